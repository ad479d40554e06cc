# want: 3:16 root needs a local connection
host "a" {
  root       = "/mnt"
  address    = "10.0.0.1"
}
