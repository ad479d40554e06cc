# Groups, targets, for_each: one configuration for a whole fleet.
#
#   goprov plan examples/fleet                          # every host, 20 at a time
#   goprov plan -limit group.web examples/fleet         # only the web servers
#   goprov apply -limit host.db1 examples/fleet         # one host
#   goprov apply -parallel 50 -auto-approve examples/fleet

variable "proxy" {
  default     = "http://proxy.example.internal:3128"
  description = "Outgoing HTTP(S) proxy for login shells."
}

variable "login_env" {
  description = "Login-shell environment files for every host: /etc/profile.d/NAME.sh => variables."
  default = {
    locale = { LANG = "C.UTF-8", LC_ALL = "C.UTF-8" }
    editor = { EDITOR = "vim", VISUAL = "vim" }
  }
}

# Every host: the proxy, and one profile script per login_env entry.
resource "profile_script" "proxy" {
  name = "proxy"
  env = {
    http_proxy  = var.proxy
    https_proxy = var.proxy
    no_proxy    = "localhost,127.0.0.1,.example.internal"
  }
}

resource "profile_script" "env" {
  for_each = var.login_env
  name     = each.key
  env      = each.value
}

# Each team's sudo rules only on its group's hosts.
resource "sudoers_dropin" "webops" {
  targets = [group.web]
  name    = "webops"
  rule {
    users    = ["%webops"]
    runas    = "www-data"
    nopasswd = true
    commands = ["/usr/bin/systemctl reload nginx", "/usr/bin/systemctl restart nginx"]
  }
}

resource "sudoers_dropin" "dba" {
  targets = [group.db]
  name    = "dba"
  rule {
    users    = ["%dba"]
    runas    = "postgres"
    nopasswd = true
    commands = ["/usr/bin/psql", "/usr/bin/pg_dump"]
  }
}

# Audit sudo everywhere, database hosts also their configuration.
resource "audit_rules" "sudo" {
  name = "50-sudo"
  rules = [
    "-w /etc/sudoers -p wa -k sudoers_change",
    "-w /etc/sudoers.d/ -p wa -k sudoers_change",
  ]
}

resource "audit_rules" "pgconf" {
  targets = [group.db]
  name    = "60-pgconf"
  rules   = ["-w /etc/postgresql/ -p wa -k pg_config"]
}
