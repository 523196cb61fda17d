# access-count.awk: reads portico's JSON log (stdout, through a FIFO during the soak) and prints, at the end:
#   lines N / access N / status CODE N / warn_access N / problems N / problem <first 20 warn+ lines that are not access lines>
# It only counts, so the soak's disk use stays flat however long it runs.
{ n++ }
/"msg":"request"/ {
  a++
  if (match($0, /"status":[0-9]+/)) { s = substr($0, RSTART + 9, RLENGTH - 9); st[s]++ }
  if ($0 ~ /"level":(40|50|60)/) wa++
  next
}
/"level":(40|50|60)/ { e++; if (e <= 20) ev[e] = substr($0, 1, 400) }
END {
  print "lines " n + 0
  print "access " a + 0
  for (k in st) print "status " k " " st[k]
  print "warn_access " wa + 0
  print "problems " e + 0
  for (i = 1; i <= e && i <= 20; i++) print "problem " ev[i]
}
