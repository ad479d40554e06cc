resource "profile_script" "env" {
  name = "site-env"
  env  = { SITE = "x" }
}
