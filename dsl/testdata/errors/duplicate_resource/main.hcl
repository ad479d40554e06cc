# want: 5:1 Duplicate resource
resource "test" "a" {
  name = "a"
}
resource "test" "a" {
  name = "b"
}
