# go-workstation: the whole "set up Go on Kali/Debian" guide as one block.
#
#   module "go" {
#     source     = "../../modules/go-workstation"   # relative to the calling file
#     go_version = "1.22.5"
#     goprivate  = "git.example.internal/*"
#   }
#
# It installs a verified toolchain into a fresh versioned directory and
# switches /usr/local/go to it atomically (go_toolchain), writes the go
# command's system-wide defaults into $GOROOT/go.env (GOPROXY, GOSUMDB,
# GOPRIVATE, GOTOOLCHAIN), and exports GOROOT, GOPATH and PATH for login
# shells in /etc/profile.d/go.sh with $GOROOT/bin FIRST, so an older distro
# `go` further down PATH never wins (profile_script; zsh login shells too).
# With verify_users, each plan also proves those users' login shells get it
# (their ~/.zshrc, ~/.bashrc and `go env -w` file can override it).

variable "go_version" {
  type        = string
  description = "Go release without the go prefix, e.g. 1.22.5."
}

variable "toolchain_source" {
  type        = string
  default     = "proxy"
  description = "proxy (module proxy through the controller, verified against the checksum database), dl (official archive, needs sha256) or file (needs path and sha256)."
}

variable "sha256" {
  default     = ""
  description = "Archive checksum for dl/file: a string, or a map of OS-ARCH to checksum. Must stay empty for proxy."
}

variable "mirror" {
  type    = string
  default = "https://go.dev/dl/"
}

variable "archive_path" {
  type        = string
  default     = ""
  description = "For toolchain_source = file: the archive on the controller (absolute path recommended)."
}

variable "fetch" {
  type        = string
  default     = "controller"
  description = "controller (download once, stream to hosts over SSH: hosts need no internet) or host (each host downloads from mirror; dl only)."
}

variable "install_root" {
  type    = string
  default = "/usr/local"
}

variable "link" {
  type        = string
  default     = "/usr/local/go"
  description = "The symlink switched to the active version: GOROOT."
}

variable "keep" {
  type    = number
  default = 2
}

variable "toolchain_verify" {
  type        = string
  default     = "executables"
  description = "What every plan re-hashes of the installed tree: \"executables\" (bin/, pkg/tool/) or \"all\"."
}

variable "gopath" {
  type        = string
  default     = "$HOME/go"
  description = "GOPATH for login shells. $HOME expands at login; every other character is literal."
}

variable "goproxy" {
  type    = string
  default = "https://proxy.golang.org,direct"
}

variable "gosumdb" {
  type        = string
  default     = "sum.golang.org"
  description = "Never \"off\": goprov validate warns about it."
}

variable "goprivate" {
  type        = string
  default     = ""
  description = "Comma-separated module path patterns fetched directly and not checked against the checksum database (your own code), e.g. git.example.internal/*."
}

variable "gotoolchain" {
  type        = string
  default     = "local"
  description = "local keeps the go command from downloading other toolchains behind your back; auto is Go's default."
}

variable "extra_go_env" {
  type        = map(string)
  default     = {}
  description = "More go.env defaults (GOFLAGS, GONOSUMDB, ...), applied last."
}

variable "verify_users" {
  type        = list(string)
  default     = []
  description = "Users whose login shells must really get GOROOT, GOPATH and $GOROOT/bin/go (e.g. [\"kali\"]): each plan starts their login shells as them, startup files and all, and reports overrides in their own files. Empty: no check."
}

variable "verify_shells" {
  type        = list(string)
  default     = ["bash"]
  description = "Login shells to check for verify_users: \"bash\", \"zsh\" (Kali's default), \"sh\". Each must be installed on the hosts."
}

variable "profile_name" {
  type        = string
  default     = "go"
  description = "The profile script is /etc/profile.d/NAME.sh."
}

locals {
  private_env = var.goprivate == "" ? {} : { GOPRIVATE = var.goprivate }
  go_env = merge(
    {
      GOPROXY     = var.goproxy
      GOSUMDB     = var.gosumdb
      GOTOOLCHAIN = var.gotoolchain
    },
    local.private_env,
    var.extra_go_env,
  )
}

variable "install_packages" {
  type        = bool
  default     = true
  description = "Install the login shells of verify_shells that Debian does not ship by default (zsh) with a package resource; false: they are installed by other means."
}

resource "package" "shells" {
  count = var.install_packages && contains(var.verify_shells, "zsh") ? 1 : 0
  names = ["zsh"]
}

resource "go_toolchain" "go" {
  version      = var.go_version
  source       = var.toolchain_source
  sha256       = var.sha256
  mirror       = var.mirror
  path         = var.archive_path
  fetch        = var.fetch
  install_root = var.install_root
  link         = var.link
  keep         = var.keep
  verify       = var.toolchain_verify
  env          = local.go_env
}

# Refers to go_toolchain.go.link, so it is applied after the switch.
resource "profile_script" "go" {
  name = var.profile_name
  env = {
    GOROOT = go_toolchain.go.link
    GOPATH = var.gopath
  }
  path_prepend = ["${go_toolchain.go.link}/bin", "${var.gopath}/bin"]
  verify {
    users    = var.verify_users
    shells   = var.verify_shells
    commands = { go = "${go_toolchain.go.link}/bin/go" }
  }
}

output "goroot" {
  value = go_toolchain.go.link
}

output "go_bin" {
  value = "${go_toolchain.go.link}/bin/go"
}

output "profile_script" {
  value = "/etc/profile.d/${profile_script.go.name}.sh"
}
