# want: 5:1 Duplicate host
host "a" {
  connection = "local"
}
host "a" {
  connection = "local"
}
