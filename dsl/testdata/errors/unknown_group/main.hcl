# want: 7:14 Reference to undeclared group
host "a" {
  connection = "local"
  groups     = ["web"]
}
resource "test" "a" {
  targets = [group.db]
  name    = "a"
}
