# want: 3:10 Reference to undeclared local value
resource "test" "a" {
  name = local.nope
}
