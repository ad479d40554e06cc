# The configuration a GitOps repository would hold; the pipeline around it
# is .github/workflows/goprov.yml. Hosts are listed here; the SSH key and
# the sudo password come from CI secrets, never from this repository.

variable "ssh_user" {
  default = "deploy"
}

host "web1" {
  address         = "192.0.2.11"
  user            = var.ssh_user
  known_hosts     = "${path.module}/known_hosts" # committed: the fleet's host keys (ssh-keyscan, checked once)
  host_key_policy = "strict"
  become          = true
  groups          = ["web"]
}

host "web2" {
  address         = "192.0.2.12"
  user            = var.ssh_user
  known_hosts     = "${path.module}/known_hosts"
  host_key_policy = "strict"
  become          = true
  groups          = ["web"]
}

module "go" {
  source     = "../../modules/go-workstation"
  targets    = [group.web]
  go_version = "1.22.5"
}

module "sudo" {
  source       = "../../modules/sudo-audit-baseline"
  targets      = [group.web]
  users        = ["%webops"]
  service_user = "www-data"
  commands     = ["/usr/bin/systemctl reload nginx"]
}

module "fw" {
  source = "../../modules/firewall-baseline"
}
