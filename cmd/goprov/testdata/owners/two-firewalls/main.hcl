resource "firewall" "main" {
  default_incoming = "deny"
}

resource "firewall" "strict" {
  default_incoming = "reject"
}
