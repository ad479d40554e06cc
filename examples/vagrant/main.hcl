# One Vagrant VM, reached through `vagrant ssh-config`:
#
#   vagrant up
#   vagrant ssh-config > vagrant.ssh
#   goprov plan -ssh-config vagrant.ssh examples/vagrant
#
# The host block names just the alias "default" (vagrant's name for the
# machine): address, port, user and key all come from vagrant.ssh. vagrant
# writes StrictHostKeyChecking no + UserKnownHostsFile /dev/null there;
# goprov still refuses a CHANGED key but cannot verify this one, and says
# so (fine for a local VM, never for production).
host "default" {
  become = true # vagrant's user has NOPASSWD sudo
}

module "go" {
  source     = "../../modules/go-workstation"
  go_version = "1.22.5" # streamed from this machine: the VM needs no internet
}

module "sudo" {
  source       = "../../modules/sudo-audit-baseline"
  users        = ["%adm"]
  service_user = "www-data"
  commands     = ["/usr/bin/journalctl -u nginx -n 200"]
}

module "fw" {
  # SSH in on 22: the port sshd listens on inside the VM, where vagrant's
  # forwarded 2222 arrives (goprov's lockout guard asks the VM, not the dial).
  source = "../../modules/firewall-baseline"
}
