resource "profile_script" "tool" {
  for_each = toset(["go", "node"])
  name     = each.key
}

resource "go_toolchain" "a" {
  version      = "1.22.5"
  install_root = "/opt/a"
  link         = "/opt/a/go"
}

resource "go_toolchain" "b" {
  version      = "1.23.4"
  install_root = "/opt/b"
  link         = "/opt/b/go"
}
