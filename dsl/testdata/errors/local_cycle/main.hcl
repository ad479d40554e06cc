# want: 3:7 Cycle in local values
locals {
  a = local.b
  b = local.a
}
