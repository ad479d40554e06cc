# want: 6:10 Reference to undeclared input variable: Did you mean var.gopath?
variable "gopath" {
  default = "/opt/go"
}
resource "test" "a" {
  name = var.gopth
}
