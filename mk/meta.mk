# bandwidth: the ifb name is the reference's (a SHA-512 prefix, from nettle); the tbf arithmetic
# uses libm.
$(BUILD)/cni/bandwidth: LIBS += -lnettle -lm
