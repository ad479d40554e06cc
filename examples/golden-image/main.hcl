# Bake the baselines into an image root instead of a running host:
#
#   debootstrap --include=sudo,ufw,auditd bookworm /srv/images/bookworm
#   goprov apply -auto-approve -var image_root=/srv/images/bookworm examples/golden-image
#
# A local host with root = DIR treats DIR as "/": files land under it,
# sudoers is checked by the image's own visudo, ufw runs as the image's
# ufw, all in a sandbox where the image is "/" (no network, no capability
# on this machine), and nothing of this machine changes. `-root DIR` on the command line does the same for every
# local host without the variable.
variable "image_root" {
  default = "/srv/images/bookworm"
}

host "image" {
  connection = "local"
  root       = var.image_root
  groups     = ["images"]
}

module "go" {
  source           = "../../modules/go-workstation"
  go_version       = "1.22.5"
  install_packages = false # the image's packages come from its own build
}

module "sudo" {
  source       = "../../modules/sudo-audit-baseline"
  users        = ["%adm"]
  service_user = "www-data"
  commands     = ["/usr/bin/journalctl -u nginx -n 200"]
  # The image's packages (sudo, auditd, ufw) come from its own build: an
  # image's sandbox has no network for apt (docs/resources/package.md).
  install_packages = false
  # audit_rules on an image root write the rules file only; they load when
  # a system booted from the image starts auditd.
}

module "fw" {
  source           = "../../modules/firewall-baseline"
  install_packages = false
}

# Which build produced the image, for anyone logged in to it later.
resource "profile_script" "image_marker" {
  name = "image-build"
  env = {
    IMAGE_BASELINE = "goprov golden-image example"
  }
}
