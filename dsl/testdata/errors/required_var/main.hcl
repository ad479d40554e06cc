# want: 2:1 No value for required variable
variable "region" {
}
