# The three shipped baselines on goprov's own SSH test lab: a Go
# workstation, least-privilege sudo with an audit trail, and a default-deny
# firewall that still lets `go get` out.
#
# The hosts come from the lab's inventory.hcl, copied beside this file (see
# README.md). Without it this directory still validates: goprov then
# targets the implicit host "local", and `goprov validate` never connects.

module "go" {
  source     = "../../modules/go-workstation"
  go_version = "1.22.5" # from the Go module proxy, via this machine
  goprivate  = "git.example.internal/*"

  # Prove that these users' login shells really get Go: started as them,
  # their own startup files and go env files included.
  verify_users  = ["deploy", "webops"]
  verify_shells = ["bash", "zsh"]
}

module "sudo" {
  source       = "../../modules/sudo-audit-baseline"
  name         = "nginx-ops"
  users        = ["webops"] # a plain login user of the lab (-users webops)
  service_user = "www-data"
  commands = [
    "/usr/bin/systemctl restart nginx",
    "/usr/bin/journalctl -u nginx -n 200",
  ]
}

module "fw" {
  source = "../../modules/firewall-baseline"
}

output "goroot" {
  value = module.go.goroot
}
