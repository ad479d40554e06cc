# want: 2:10 Unknown resource kind
resource "nosuch" "a" {
  name = "a"
}
