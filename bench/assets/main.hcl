# The bench baseline for goprov (the same end state as playbook.yml).
# inventory.hcl (the lab's host blocks: user deploy, become) is copied beside it.
variable "profile_version" {
  default = "1"
}

resource "profile_script" "bench" {
  name = "bench"
  env = {
    BENCH_VERSION = var.profile_version
    EDITOR        = "vim"
  }
  path_prepend = ["/opt/bench/bin"]
}

resource "sudoers_dropin" "ops" {
  name = "bench-ops"
  rule {
    users    = ["%ops"]
    commands = ["/usr/bin/systemctl status", "/usr/bin/journalctl -n 50"]
    nopasswd = true
  }
}

resource "audit_rules" "sudoers" {
  name = "50-bench"
  rules = [
    "-w /etc/sudoers -p wa -k sudoers_change",
    "-w /etc/sudoers.d/ -p wa -k sudoers_change",
  ]
}

resource "firewall" "main" {
  backend          = "ufw"
  enabled          = true
  default_incoming = "deny"
  default_outgoing = "allow"
}

resource "firewall_rule" "ssh_in" {
  port     = 22
  protocol = "tcp"
}

resource "firewall_rule" "https_out" {
  port      = 443
  protocol  = "tcp"
  direction = "out"
}
