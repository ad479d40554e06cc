# The fleet: replace addresses (or generate this file from your CMDB).
# Every host logs in as deploy and becomes root through sudo; the sudo
# password, if any, comes from $GOPROV_BECOME_PASSWORD or -ask-become-pass.

variable "ssh_user" {
  default = "deploy"
}

variable "identity_file" {
  default     = ""
  description = "Private key; empty: ssh-agent and ~/.ssh/config decide."
}

host "web1" {
  address       = "192.0.2.11"
  user          = var.ssh_user
  identity_file = var.identity_file
  become        = true
  groups        = ["web", "eu"]
}

host "web2" {
  address       = "192.0.2.12"
  user          = var.ssh_user
  identity_file = var.identity_file
  become        = true
  groups        = ["web", "us"]
}

host "db1" {
  address       = "192.0.2.21"
  user          = var.ssh_user
  identity_file = var.identity_file
  become        = true
  groups        = ["db", "eu"]
}
