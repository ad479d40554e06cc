# firewall-baseline: SSH in, HTTPS (and DNS) out, everything else denied
# both ways — a host that can still `go get` through a default-deny
# outgoing policy.
#
#   module "fw" {
#     source      = "../../modules/firewall-baseline"
#     ssh_source  = "10.0.0.0/8"    # optional: SSH only from there
#   }
#
# goprov refuses a plan that would cut off its own SSH session, and guards
# every live change with a dead-man rollback and a fresh login (see
# docs/resources/firewall.md). Outgoing rules need ufw (firewalld refuses
# default_outgoing other than "allow"): on firewalld hosts set
# default_outgoing = "allow".

variable "backend" {
  type        = string
  default     = "auto"
  description = "ufw, firewalld or auto."
}

variable "ssh_port" {
  type    = number
  default = 22
}

variable "ssh_source" {
  type        = string
  default     = ""
  description = "Address or prefix SSH is allowed from; empty: anywhere."
}

variable "default_outgoing" {
  type        = string
  default     = "deny"
  description = "deny (default-deny egress, with the allows below) or allow."
}

variable "https_out" {
  type        = bool
  default     = true
  description = "Allow outgoing TCP 443 (module proxy, checksum database, git over HTTPS)."
}

variable "dns_out" {
  type        = bool
  default     = true
  description = "Allow outgoing DNS (UDP and TCP 53); HTTPS out is of little use without name resolution."
}

variable "extra_in_ports" {
  type        = list(string)
  default     = []
  description = "More incoming TCP ports or ranges (\"8080\", \"9000-9100\")."
}

variable "purge" {
  type        = bool
  default     = false
  description = "true: remove firewall rules this configuration does not declare."
}

variable "install_packages" {
  type        = bool
  default     = true
  description = "Install the backend's package (ufw; firewalld with backend = \"firewalld\") with a package resource, so a bare host gets the firewall in one apply; false: it is installed by other means."
}

# On a host without the backend, the firewall is planned "known after
# apply" and read, planned (lockout guard included) and changed right after
# this resource installs it.
resource "package" "firewall" {
  count = var.install_packages ? 1 : 0
  names = var.backend == "firewalld" ? ["firewalld"] : ["ufw"]
}

resource "firewall" "main" {
  backend          = var.backend
  enabled          = true
  default_incoming = "deny"
  default_outgoing = var.default_outgoing
  purge            = var.purge
}

resource "firewall_rule" "ssh_in" {
  port     = var.ssh_port
  protocol = "tcp"
  source   = var.ssh_source
  comment  = "ssh"
}

resource "firewall_rule" "https_out" {
  count     = var.https_out ? 1 : 0
  port      = 443
  protocol  = "tcp"
  direction = "out"
  comment   = "https out"
}

resource "firewall_rule" "dns_out" {
  for_each  = var.dns_out ? toset(["udp", "tcp"]) : toset([])
  port      = 53
  protocol  = each.value
  direction = "out"
  comment   = "dns out"
}

resource "firewall_rule" "extra_in" {
  for_each = toset(var.extra_in_ports)
  port     = each.value
  protocol = "tcp"
}
