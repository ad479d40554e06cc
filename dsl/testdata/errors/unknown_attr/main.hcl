# want: 4:3 Unsupported argument
resource "test" "a" {
  name   = "a"
  colour = "blue"
}
