resource "profile_script" "go" {
  name = "go"
  env  = { GOPATH = "/opt/go" }
}

resource "profile_script" "old" {
  name   = "go"
  ensure = "absent"
}
