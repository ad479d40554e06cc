# want: 3:10 Incorrect attribute value type
resource "test" "a" {
  name = ["not", "a", "string"]
}
