# want: 4:11 Reference to undeclared input variable
resource "test" "a" {
  name = "a"
  value = var.missing
}
