# The hosts this repository manages. The SSH key and the sudo password
# come from CI secrets (see README.md), never from this repository.

variable "ssh_user" {
  default = "deploy"
}

host "web1" {
  address         = "192.0.2.11"
  user            = var.ssh_user
  known_hosts     = "${path.module}/known_hosts" # committed: the fleet's host keys, reviewed like code
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
