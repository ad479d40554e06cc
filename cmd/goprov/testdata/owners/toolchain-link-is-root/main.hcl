resource "go_toolchain" "a" {
  version = "1.22.5"
  link    = "/opt/go"
}

resource "go_toolchain" "b" {
  version      = "1.23.4"
  install_root = "/opt/go"
  link         = "/opt/current-go"
}
