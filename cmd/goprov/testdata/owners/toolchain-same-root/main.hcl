resource "go_toolchain" "stable" {
  version = "1.22.5"
}

resource "go_toolchain" "next" {
  version = "1.23.4"
  link    = "/usr/local/gonext"
}
