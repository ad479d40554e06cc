# want: 2:1 Dependency cycle
resource "test" "a" {
  name = test.b.name
}
resource "test" "b" {
  name = test.a.name
}
