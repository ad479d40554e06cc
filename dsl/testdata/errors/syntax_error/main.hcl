# want: 3:15 Invalid multi-line string
resource "test" "a" {
  name = "open
}
