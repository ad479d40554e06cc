# want: 4:13 Invalid value for variable
variable "n" {
  type    = number
  default = "many"
}
