resource "profile_script" "go" {
  count = 2
  name  = "go"
  env   = { N = "${count.index}" }
}
