resource "profile_script" "go" {
  name = "go"
  env  = { GOPATH = "/opt/go" }
}

resource "profile_script" "golang" {
  name = "go"
  env  = { GOROOT = "/usr/local/go" }
}
