host "web1" {
  address = "10.0.0.11"
  groups  = ["web"]
}

host "db1" {
  address = "10.0.0.21"
  groups  = ["db"]
}

resource "profile_script" "web" {
  targets = [group.web]
  name    = "site"
}

resource "profile_script" "all" {
  name = "site"
}
