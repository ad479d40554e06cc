# sudo-audit-baseline: least-privilege sudo for operators of one service,
# and an audit trail of every change to sudo's configuration and every
# execution of sudo.
#
#   module "sudo" {
#     source       = "../../modules/sudo-audit-baseline"
#     users        = ["%webops"]
#     service_user = "www-data"
#     commands     = ["/usr/bin/systemctl restart nginx", "/usr/bin/journalctl -u nginx -n 200"]
#   }
#
# The drop-in lets `users` run exactly `commands` (absolute paths, fixed
# arguments) as `service_user`, without a password, and nothing else:
#   %webops ALL = (www-data) NOPASSWD: /usr/bin/systemctl restart nginx, ...
# Write no "ALL" and no wildcards in commands: `goprov validate` warns about
# both (NOPASSWD: ALL is root for anyone who takes over the account; a `*`
# in arguments matches spaces and so extra arguments).
#
# The audit rules watch /etc/sudoers and /etc/sudoers.d/ for writes and
# attribute changes (key sudoers_change) and log every execution of
# /usr/bin/sudo (key sudo_exec): `ausearch -k sudoers_change` /
# `ausearch -k sudo_exec`. On hosts whose kernel refuses audit control
# (containers), the rules file is written and the plan says it is not loaded.

variable "name" {
  type        = string
  default     = "service-ops"
  description = "Drop-in name: /etc/sudoers.d/NAME (letters, digits, - and _)."
}

variable "users" {
  type        = list(string)
  description = "Who may run the commands: users, %groups."
}

variable "service_user" {
  type        = string
  description = "The user the commands run as (run-as). Prefer the service's own account over root."
}

variable "commands" {
  type        = list(string)
  description = "Absolute commands with their fixed arguments."
}

variable "nopasswd" {
  type    = bool
  default = true
}

variable "audit" {
  type        = bool
  default     = true
  description = "false: only the sudoers drop-in."
}

variable "audit_name" {
  type        = string
  default     = "50-sudo-baseline"
  description = "Audit rules file: /etc/audit/rules.d/NAME.rules."
}

variable "audit_arch" {
  type        = string
  default     = "b64"
  description = "Syscall ABI of the execve rule: b64 on amd64 and arm64 hosts, b32 on 32-bit ones."
}

variable "install_packages" {
  type        = bool
  default     = true
  description = "Install sudo (and auditd with audit = true) with a package resource, so a bare host gets the baseline in one apply; false: they are installed by other means (or another package resource of the configuration names them)."
}

# On a bare host the drop-in and the rules cannot be checked before sudo and
# auditd are installed: the plan shows them "known after apply" and apply
# reads them again right after this resource (visudo comes from sudo,
# auditctl from auditd).
resource "package" "baseline" {
  count = var.install_packages ? 1 : 0
  names = var.audit ? ["sudo", "auditd"] : ["sudo"]
}

resource "sudoers_dropin" "service" {
  name = var.name
  rule {
    users    = var.users
    runas    = var.service_user
    nopasswd = var.nopasswd
    commands = var.commands
  }
}

resource "audit_rules" "sudo" {
  count = var.audit ? 1 : 0
  name  = var.audit_name
  rules = [
    "-w /etc/sudoers -p wa -k sudoers_change",
    "-w /etc/sudoers.d/ -p wa -k sudoers_change",
    "-a always,exit -F arch=${var.audit_arch} -S execve -F path=/usr/bin/sudo -k sudo_exec",
  ]
}

output "sudoers_file" {
  value = "/etc/sudoers.d/${sudoers_dropin.service.name}"
}

output "audit_keys" {
  value = ["sudoers_change", "sudo_exec"]
}
