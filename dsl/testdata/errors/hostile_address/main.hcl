# want: 3:13 Invalid address
host "a" {
  address = "10.0.0.1;reboot"
}
