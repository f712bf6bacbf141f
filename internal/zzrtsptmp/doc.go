package zzrtsptmp
