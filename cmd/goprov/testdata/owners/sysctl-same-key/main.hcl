resource "sysctl" "base" {
  name   = "60-base"
  values = { "net.ipv4.conf.all.rp_filter" = 1 }
}

resource "sysctl" "site" {
  name   = "70-site"
  values = { "net/ipv4/conf/all/rp_filter" = 2 }
}
