# want: 5:3 count and for_each together
resource "test" "a" {
  name     = "a"
  count    = 2
  for_each = toset(["x"])
}
