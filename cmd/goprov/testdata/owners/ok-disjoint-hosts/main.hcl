host "web1" {
  address = "10.0.0.11"
}

host "db1" {
  address = "10.0.0.21"
}

resource "profile_script" "web" {
  targets = [host.web1]
  name    = "site"
  env     = { ROLE = "web" }
}

resource "profile_script" "db" {
  targets = [host.db1]
  name    = "site"
  env     = { ROLE = "db" }
}
