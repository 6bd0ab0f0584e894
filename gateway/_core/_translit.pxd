cpdef str transliterate(str text)
