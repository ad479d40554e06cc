resource "sudoers_dropin" "ops" {
  name = "ops"
  rule {
    users    = ["%ops"]
    commands = ["/usr/bin/systemctl status nginx"]
  }
}

resource "sudoers_dropin" "ops_too" {
  name = "ops"
  rule {
    users    = ["%ops"]
    commands = ["/usr/bin/journalctl -u nginx"]
  }
}
