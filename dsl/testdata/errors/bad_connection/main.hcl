# want: 3:16 Invalid connection
host "a" {
  connection = "telnet"
}
