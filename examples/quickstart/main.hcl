# The smallest useful goprov config: no host block, so it targets this
# machine (or, with -root DIR, a directory treated as "/").
variable "gopath" {
  default = "/opt/go"
}

locals {
  gobin = "/usr/local/go/bin"
}

resource "profile_script" "go" {
  name = "go" # -> /etc/profile.d/go.sh
  env = {
    GOPATH  = var.gopath
    GOFLAGS = "-mod=readonly"
  }
  # $HOME is expanded at login; every other character is literal text.
  path_prepend = [local.gobin, "${var.gopath}/bin", "$HOME/go/bin"]
  ensure       = "present"
}
