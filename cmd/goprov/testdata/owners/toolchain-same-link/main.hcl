resource "go_toolchain" "old" {
  version      = "1.22.5"
  install_root = "/opt/go-old"
}

resource "go_toolchain" "new" {
  version      = "1.23.4"
  install_root = "/opt/go-new"
}
