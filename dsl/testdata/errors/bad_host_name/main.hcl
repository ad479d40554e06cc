# want: 2:6 Invalid host name
host "../etc" {
  connection = "local"
}
