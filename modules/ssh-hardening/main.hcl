# ssh-hardening: the sshd settings hardening guides (CIS, Mozilla's
# OpenSSH guide, Debian's) agree on, in one drop-in,
# /etc/ssh/sshd_config.d/NAME.conf, checked with `sshd -t`, reloaded and
# proven by a new login before it is kept.
#
#   module "ssh" {
#     source       = "../../modules/ssh-hardening"
#     allow_groups = "ssh-users sudo"   # null: no AllowGroups line
#     extra        = { MaxSessions = 4 }
#   }
#
# - No passwords: PasswordAuthentication, KbdInteractiveAuthentication
#   and PermitEmptyPasswords no; keys only. goprov refuses the plan if it
#   logs in any other way, or as a user that AllowGroups leaves out.
# - root by key only (prohibit-password); "no" where goprov logs in as
#   another user (refused at plan when goprov logs in as root).
# - MaxAuthTries 3, LoginGraceTime 30 s, idle sessions dropped after
#   ClientAliveInterval × ClientAliveCountMax (10 min).
# - No X11 or agent forwarding. TCP forwarding stays (tunnels are a
#   common developer need): extra = { AllowTcpForwarding = "no" }.
#
# sshd keeps the FIRST value it reads: NAME sorts before most distribution
# drop-ins ("50-…"); the plan notes any setting an earlier file (or a
# line above the main config's Include) makes first.

variable "name" {
  type        = string
  default     = "50-ssh-hardening"
  description = "The file: /etc/ssh/sshd_config.d/NAME.conf. Files sorting before it win for keywords they set too; the plan notes them."
}

variable "permit_root_login" {
  type        = string
  default     = "prohibit-password"
  description = "PermitRootLogin: prohibit-password (keys only) or no."
}

variable "allow_groups" {
  type        = string
  default     = null
  description = "AllowGroups, space-separated; null leaves it out. Must include a group of goprov's login user (refused at plan otherwise)."
}

variable "extra" {
  type        = map(string)
  default     = {}
  description = "More keywords, or other values for the ones above (extra wins)."
}

locals {
  base = {
    PasswordAuthentication       = "no"
    KbdInteractiveAuthentication = "no"
    PermitEmptyPasswords         = "no"
    PermitRootLogin              = var.permit_root_login
    MaxAuthTries                 = 3
    LoginGraceTime               = 30
    ClientAliveInterval          = 300
    ClientAliveCountMax          = 2
    X11Forwarding                = "no"
    AllowAgentForwarding         = "no"
  }
  groups = var.allow_groups == null ? {} : { AllowGroups = var.allow_groups }
}

resource "sshd_config" "hardening" {
  name     = var.name
  settings = merge(local.base, local.groups, var.extra)
}

output "file" {
  value = "/etc/ssh/sshd_config.d/${sshd_config.hardening.name}.conf"
}
