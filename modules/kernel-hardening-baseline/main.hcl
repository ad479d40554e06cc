# kernel-hardening-baseline: the kernel settings hardening guides (KSPP,
# CIS, Debian's) agree on, in one sysctl file, loaded and read back.
#
#   module "kernel" {
#     source       = "../../modules/kernel-hardening-baseline"
#     ptrace_scope = 2        # null on kernels without the Yama LSM
#     extra        = { "net.ipv4.conf.all.log_martians" = 1 }
#   }
#
# - kernel.yama.ptrace_scope = 2: only root may attach a debugger (delve,
#   gdb, strace -p). A Go developer debugging their own processes as
#   themselves wants 1 (Debian's default: descendants only). Never 3 here:
#   it cannot be lowered again without a reboot. The key exists only where
#   the Yama LSM is built in; elsewhere the plan fails naming it: set null.
# - kernel.kptr_restrict = 2, kernel.dmesg_restrict = 1: kernel addresses
#   and the kernel log hidden from unprivileged users.
# - fs.suid_dumpable = 0: no core dumps of setuid programs;
#   fs.protected_symlinks/hardlinks = 1 (Debian's own default, kept).
# - network (per network namespace): reverse-path filtering, no ICMP
#   redirects accepted or sent, no source routing, SYN cookies, broadcast
#   pings ignored. `network = false` leaves them out (routers, VPN hosts).
#
# kernel.* and fs.* are machine-wide: in a container they change the host.

variable "name" {
  type        = string
  default     = "60-kernel-hardening"
  description = "The file: /etc/sysctl.d/NAME.conf. Files applied after it (sorted by name) win at boot; the plan notes any that set these keys differently."
}

variable "ptrace_scope" {
  type        = number
  default     = 2
  description = "kernel.yama.ptrace_scope: 1 descendants only, 2 root only; null leaves it out (kernels without Yama)."
}

variable "network" {
  type        = bool
  default     = true
  description = "false: leave out the net.* settings."
}

variable "extra" {
  type        = map(string)
  default     = {}
  description = "More keys, or other values for the keys above (extra wins)."
}

locals {
  kernel = {
    "kernel.kptr_restrict"   = 2
    "kernel.dmesg_restrict"  = 1
    "fs.suid_dumpable"       = 0
    "fs.protected_symlinks"  = 1
    "fs.protected_hardlinks" = 1
  }
  ptrace = var.ptrace_scope == null ? {} : { "kernel.yama.ptrace_scope" = var.ptrace_scope }
  network = var.network ? {
    "net.ipv4.conf.all.rp_filter"            = 1
    "net.ipv4.conf.default.rp_filter"        = 1
    "net.ipv4.conf.all.accept_redirects"     = 0
    "net.ipv4.conf.default.accept_redirects" = 0
    "net.ipv4.conf.all.send_redirects"       = 0
    "net.ipv4.conf.default.send_redirects"   = 0
    "net.ipv4.conf.all.accept_source_route"  = 0
    "net.ipv4.tcp_syncookies"                = 1
    "net.ipv4.icmp_echo_ignore_broadcasts"   = 1
    "net.ipv6.conf.all.accept_redirects"     = 0
    "net.ipv6.conf.default.accept_redirects" = 0
  } : {}
}

resource "sysctl" "baseline" {
  name   = var.name
  values = merge(local.kernel, local.ptrace, local.network, var.extra)
}

output "file" {
  value = "/etc/sysctl.d/${sysctl.baseline.name}.conf"
}
