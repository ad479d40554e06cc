resource "audit_rules" "sudo" {
  name  = "50-sudo"
  rules = ["-w /etc/sudoers -p wa -k sudoers_change"]
}

resource "audit_rules" "sudo_exec" {
  name  = "50-sudo"
  rules = ["-a always,exit -F arch=b64 -S execve -F path=/usr/bin/sudo -k sudo_exec"]
}
