var __defProp = Object.defineProperty;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __esm = (fn, res, err) => function __init() {
  if (err) throw err[0];
  try {
    return fn && (res = (0, fn[__getOwnPropNames(fn)[0]])(fn = 0)), res;
  } catch (e) {
    throw err = [e], e;
  }
};
var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};

// ../typescript/node_modules/@noble/ciphers/utils.js
function isBytes2(a) {
  return a instanceof Uint8Array || ArrayBuffer.isView(a) && a.constructor.name === "Uint8Array";
}
function abool(b) {
  if (typeof b !== "boolean")
    throw new Error(`boolean expected, not ${b}`);
}
function anumber2(n) {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new Error("positive integer expected, got " + n);
}
function abytes2(value, length, title = "") {
  const bytes = isBytes2(value);
  const len = value?.length;
  const needsLen = length !== void 0;
  if (!bytes || needsLen && len !== length) {
    const prefix = title && `"${title}" `;
    const ofLen = needsLen ? ` of length ${length}` : "";
    const got = bytes ? `length=${len}` : `type=${typeof value}`;
    throw new Error(prefix + "expected Uint8Array" + ofLen + ", got " + got);
  }
  return value;
}
function aexists2(instance, checkFinished = true) {
  if (instance.destroyed)
    throw new Error("Hash instance has been destroyed");
  if (checkFinished && instance.finished)
    throw new Error("Hash#digest() has already been called");
}
function aoutput2(out, instance) {
  abytes2(out, void 0, "output");
  const min = instance.outputLen;
  if (out.length < min) {
    throw new Error("digestInto() expects output buffer of length at least " + min);
  }
}
function u322(arr) {
  return new Uint32Array(arr.buffer, arr.byteOffset, Math.floor(arr.byteLength / 4));
}
function clean2(...arrays) {
  for (let i = 0; i < arrays.length; i++) {
    arrays[i].fill(0);
  }
}
function createView2(arr) {
  return new DataView(arr.buffer, arr.byteOffset, arr.byteLength);
}
function checkOpts(defaults, opts) {
  if (opts == null || typeof opts !== "object")
    throw new Error("options must be defined");
  const merged = Object.assign(defaults, opts);
  return merged;
}
function equalBytes(a, b) {
  if (a.length !== b.length)
    return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++)
    diff |= a[i] ^ b[i];
  return diff === 0;
}
function getOutput(expectedLength, out, onlyAligned = true) {
  if (out === void 0)
    return new Uint8Array(expectedLength);
  if (out.length !== expectedLength)
    throw new Error('"output" expected Uint8Array of length ' + expectedLength + ", got: " + out.length);
  if (onlyAligned && !isAligned32(out))
    throw new Error("invalid output, must be aligned");
  return out;
}
function u64Lengths(dataLength, aadLength, isLE4) {
  abool(isLE4);
  const num = new Uint8Array(16);
  const view = createView2(num);
  view.setBigUint64(0, BigInt(aadLength), isLE4);
  view.setBigUint64(8, BigInt(dataLength), isLE4);
  return num;
}
function isAligned32(bytes) {
  return bytes.byteOffset % 4 === 0;
}
function copyBytes2(bytes) {
  return Uint8Array.from(bytes);
}
function randomBytes2(bytesLength = 32) {
  const cr = typeof globalThis === "object" ? globalThis.crypto : null;
  if (typeof cr?.getRandomValues !== "function")
    throw new Error("crypto.getRandomValues must be defined");
  return cr.getRandomValues(new Uint8Array(bytesLength));
}
var isLE2, wrapCipher;
var init_utils = __esm({
  "../typescript/node_modules/@noble/ciphers/utils.js"() {
    isLE2 = /* @__PURE__ */ (() => new Uint8Array(new Uint32Array([287454020]).buffer)[0] === 68)();
    wrapCipher = /* @__NO_SIDE_EFFECTS__ */ (params, constructor) => {
      function wrappedCipher(key, ...args) {
        abytes2(key, void 0, "key");
        if (!isLE2)
          throw new Error("Non little-endian hardware is not yet supported");
        if (params.nonceLength !== void 0) {
          const nonce = args[0];
          abytes2(nonce, params.varSizeNonce ? void 0 : params.nonceLength, "nonce");
        }
        const tagl = params.tagLength;
        if (tagl && args[1] !== void 0)
          abytes2(args[1], void 0, "AAD");
        const cipher = constructor(key, ...args);
        const checkOutput = (fnLength, output) => {
          if (output !== void 0) {
            if (fnLength !== 2)
              throw new Error("cipher output not supported");
            abytes2(output, void 0, "output");
          }
        };
        let called = false;
        const wrCipher = {
          encrypt(data, output) {
            if (called)
              throw new Error("cannot encrypt() twice with same key + nonce");
            called = true;
            abytes2(data);
            checkOutput(cipher.encrypt.length, output);
            return cipher.encrypt(data, output);
          },
          decrypt(data, output) {
            abytes2(data);
            if (tagl && data.length < tagl)
              throw new Error('"ciphertext" expected length bigger than tagLength=' + tagl);
            checkOutput(cipher.decrypt.length, output);
            return cipher.decrypt(data, output);
          }
        };
        return wrCipher;
      }
      Object.assign(wrappedCipher, params);
      return wrappedCipher;
    };
  }
});

// ../typescript/node_modules/@noble/ciphers/_arx.js
function rotl(a, b) {
  return a << b | a >>> 32 - b;
}
function isAligned322(b) {
  return b.byteOffset % 4 === 0;
}
function runCipher(core, sigma, key, nonce, data, output, counter, rounds) {
  const len = data.length;
  const block = new Uint8Array(BLOCK_LEN);
  const b32 = u322(block);
  const isAligned = isAligned322(data) && isAligned322(output);
  const d32 = isAligned ? u322(data) : U32_EMPTY;
  const o32 = isAligned ? u322(output) : U32_EMPTY;
  for (let pos = 0; pos < len; counter++) {
    core(sigma, key, nonce, b32, counter, rounds);
    if (counter >= MAX_COUNTER)
      throw new Error("arx: counter overflow");
    const take2 = Math.min(BLOCK_LEN, len - pos);
    if (isAligned && take2 === BLOCK_LEN) {
      const pos32 = pos / 4;
      if (pos % 4 !== 0)
        throw new Error("arx: invalid block position");
      for (let j = 0, posj; j < BLOCK_LEN32; j++) {
        posj = pos32 + j;
        o32[posj] = d32[posj] ^ b32[j];
      }
      pos += BLOCK_LEN;
      continue;
    }
    for (let j = 0, posj; j < take2; j++) {
      posj = pos + j;
      output[posj] = data[posj] ^ block[j];
    }
    pos += take2;
  }
}
function createCipher(core, opts) {
  const { allowShortKeys, extendNonceFn, counterLength, counterRight, rounds } = checkOpts({ allowShortKeys: false, counterLength: 8, counterRight: false, rounds: 20 }, opts);
  if (typeof core !== "function")
    throw new Error("core must be a function");
  anumber2(counterLength);
  anumber2(rounds);
  abool(counterRight);
  abool(allowShortKeys);
  return (key, nonce, data, output, counter = 0) => {
    abytes2(key, void 0, "key");
    abytes2(nonce, void 0, "nonce");
    abytes2(data, void 0, "data");
    const len = data.length;
    if (output === void 0)
      output = new Uint8Array(len);
    abytes2(output, void 0, "output");
    anumber2(counter);
    if (counter < 0 || counter >= MAX_COUNTER)
      throw new Error("arx: counter overflow");
    if (output.length < len)
      throw new Error(`arx: output (${output.length}) is shorter than data (${len})`);
    const toClean = [];
    let l = key.length;
    let k;
    let sigma;
    if (l === 32) {
      toClean.push(k = copyBytes2(key));
      sigma = sigma32_32;
    } else if (l === 16 && allowShortKeys) {
      k = new Uint8Array(32);
      k.set(key);
      k.set(key, 16);
      sigma = sigma16_32;
      toClean.push(k);
    } else {
      abytes2(key, 32, "arx key");
      throw new Error("invalid key size");
    }
    if (!isAligned322(nonce))
      toClean.push(nonce = copyBytes2(nonce));
    const k32 = u322(k);
    if (extendNonceFn) {
      if (nonce.length !== 24)
        throw new Error(`arx: extended nonce must be 24 bytes`);
      extendNonceFn(sigma, k32, u322(nonce.subarray(0, 16)), k32);
      nonce = nonce.subarray(16);
    }
    const nonceNcLen = 16 - counterLength;
    if (nonceNcLen !== nonce.length)
      throw new Error(`arx: nonce must be ${nonceNcLen} or 16 bytes`);
    if (nonceNcLen !== 12) {
      const nc = new Uint8Array(12);
      nc.set(nonce, counterRight ? 0 : 12 - nonce.length);
      nonce = nc;
      toClean.push(nonce);
    }
    const n32 = u322(nonce);
    runCipher(core, sigma, k32, n32, data, output, counter, rounds);
    clean2(...toClean);
    return output;
  };
}
var encodeStr, sigma16, sigma32, sigma16_32, sigma32_32, BLOCK_LEN, BLOCK_LEN32, MAX_COUNTER, U32_EMPTY, _XorStreamPRG, createPRG;
var init_arx = __esm({
  "../typescript/node_modules/@noble/ciphers/_arx.js"() {
    init_utils();
    encodeStr = (str) => Uint8Array.from(str.split(""), (c) => c.charCodeAt(0));
    sigma16 = encodeStr("expand 16-byte k");
    sigma32 = encodeStr("expand 32-byte k");
    sigma16_32 = u322(sigma16);
    sigma32_32 = u322(sigma32);
    BLOCK_LEN = 64;
    BLOCK_LEN32 = 16;
    MAX_COUNTER = 2 ** 32 - 1;
    U32_EMPTY = Uint32Array.of();
    _XorStreamPRG = class __XorStreamPRG {
      blockLen;
      keyLen;
      nonceLen;
      state;
      buf;
      key;
      nonce;
      pos;
      ctr;
      cipher;
      constructor(cipher, blockLen, keyLen, nonceLen, seed) {
        this.cipher = cipher;
        this.blockLen = blockLen;
        this.keyLen = keyLen;
        this.nonceLen = nonceLen;
        this.state = new Uint8Array(this.keyLen + this.nonceLen);
        this.reseed(seed);
        this.ctr = 0;
        this.pos = this.blockLen;
        this.buf = new Uint8Array(this.blockLen);
        this.key = this.state.subarray(0, this.keyLen);
        this.nonce = this.state.subarray(this.keyLen);
      }
      reseed(seed) {
        abytes2(seed);
        if (!seed || seed.length === 0)
          throw new Error("entropy required");
        for (let i = 0; i < seed.length; i++)
          this.state[i % this.state.length] ^= seed[i];
        this.ctr = 0;
        this.pos = this.blockLen;
      }
      addEntropy(seed) {
        this.state.set(this.randomBytes(this.state.length));
        this.reseed(seed);
      }
      randomBytes(len) {
        anumber2(len);
        if (len === 0)
          return new Uint8Array(0);
        const out = new Uint8Array(len);
        let outPos = 0;
        if (this.pos < this.blockLen) {
          const take2 = Math.min(len, this.blockLen - this.pos);
          out.set(this.buf.subarray(this.pos, this.pos + take2), 0);
          this.pos += take2;
          outPos += take2;
          if (outPos === len)
            return out;
        }
        const blocks = Math.floor((len - outPos) / this.blockLen);
        if (blocks > 0) {
          const blockBytes = blocks * this.blockLen;
          const b = out.subarray(outPos, outPos + blockBytes);
          this.cipher(this.key, this.nonce, b, b, this.ctr);
          this.ctr += blocks;
          outPos += blockBytes;
        }
        const left2 = len - outPos;
        if (left2 > 0) {
          this.buf.fill(0);
          this.cipher(this.key, this.nonce, this.buf, this.buf, this.ctr++);
          out.set(this.buf.subarray(0, left2), outPos);
          this.pos = left2;
        }
        return out;
      }
      clone() {
        return new __XorStreamPRG(this.cipher, this.blockLen, this.keyLen, this.nonceLen, this.randomBytes(this.state.length));
      }
      clean() {
        this.pos = 0;
        this.ctr = 0;
        this.buf.fill(0);
        this.state.fill(0);
      }
    };
    createPRG = (cipher, blockLen, keyLen, nonceLen) => {
      return (seed = randomBytes2(32)) => new _XorStreamPRG(cipher, blockLen, keyLen, nonceLen, seed);
    };
  }
});

// ../typescript/node_modules/@noble/ciphers/_poly1305.js
function u8to16(a, i) {
  return a[i++] & 255 | (a[i++] & 255) << 8;
}
function wrapConstructorWithKey(hashCons) {
  const hashC = (msg, key) => hashCons(key).update(msg).digest();
  const tmp = hashCons(new Uint8Array(32));
  hashC.outputLen = tmp.outputLen;
  hashC.blockLen = tmp.blockLen;
  hashC.create = (key) => hashCons(key);
  return hashC;
}
var Poly1305, poly1305;
var init_poly1305 = __esm({
  "../typescript/node_modules/@noble/ciphers/_poly1305.js"() {
    init_utils();
    Poly1305 = class {
      blockLen = 16;
      outputLen = 16;
      buffer = new Uint8Array(16);
      r = new Uint16Array(10);
      // Allocating 1 array with .subarray() here is slower than 3
      h = new Uint16Array(10);
      pad = new Uint16Array(8);
      pos = 0;
      finished = false;
      // Can be speed-up using BigUint64Array, at the cost of complexity
      constructor(key) {
        key = copyBytes2(abytes2(key, 32, "key"));
        const t0 = u8to16(key, 0);
        const t1 = u8to16(key, 2);
        const t2 = u8to16(key, 4);
        const t3 = u8to16(key, 6);
        const t4 = u8to16(key, 8);
        const t5 = u8to16(key, 10);
        const t6 = u8to16(key, 12);
        const t7 = u8to16(key, 14);
        this.r[0] = t0 & 8191;
        this.r[1] = (t0 >>> 13 | t1 << 3) & 8191;
        this.r[2] = (t1 >>> 10 | t2 << 6) & 7939;
        this.r[3] = (t2 >>> 7 | t3 << 9) & 8191;
        this.r[4] = (t3 >>> 4 | t4 << 12) & 255;
        this.r[5] = t4 >>> 1 & 8190;
        this.r[6] = (t4 >>> 14 | t5 << 2) & 8191;
        this.r[7] = (t5 >>> 11 | t6 << 5) & 8065;
        this.r[8] = (t6 >>> 8 | t7 << 8) & 8191;
        this.r[9] = t7 >>> 5 & 127;
        for (let i = 0; i < 8; i++)
          this.pad[i] = u8to16(key, 16 + 2 * i);
      }
      process(data, offset, isLast = false) {
        const hibit = isLast ? 0 : 1 << 11;
        const { h: h2, r } = this;
        const r0 = r[0];
        const r1 = r[1];
        const r2 = r[2];
        const r3 = r[3];
        const r4 = r[4];
        const r5 = r[5];
        const r6 = r[6];
        const r7 = r[7];
        const r8 = r[8];
        const r9 = r[9];
        const t0 = u8to16(data, offset + 0);
        const t1 = u8to16(data, offset + 2);
        const t2 = u8to16(data, offset + 4);
        const t3 = u8to16(data, offset + 6);
        const t4 = u8to16(data, offset + 8);
        const t5 = u8to16(data, offset + 10);
        const t6 = u8to16(data, offset + 12);
        const t7 = u8to16(data, offset + 14);
        let h0 = h2[0] + (t0 & 8191);
        let h1 = h2[1] + ((t0 >>> 13 | t1 << 3) & 8191);
        let h22 = h2[2] + ((t1 >>> 10 | t2 << 6) & 8191);
        let h3 = h2[3] + ((t2 >>> 7 | t3 << 9) & 8191);
        let h4 = h2[4] + ((t3 >>> 4 | t4 << 12) & 8191);
        let h5 = h2[5] + (t4 >>> 1 & 8191);
        let h6 = h2[6] + ((t4 >>> 14 | t5 << 2) & 8191);
        let h7 = h2[7] + ((t5 >>> 11 | t6 << 5) & 8191);
        let h8 = h2[8] + ((t6 >>> 8 | t7 << 8) & 8191);
        let h9 = h2[9] + (t7 >>> 5 | hibit);
        let c = 0;
        let d0 = c + h0 * r0 + h1 * (5 * r9) + h22 * (5 * r8) + h3 * (5 * r7) + h4 * (5 * r6);
        c = d0 >>> 13;
        d0 &= 8191;
        d0 += h5 * (5 * r5) + h6 * (5 * r4) + h7 * (5 * r3) + h8 * (5 * r2) + h9 * (5 * r1);
        c += d0 >>> 13;
        d0 &= 8191;
        let d1 = c + h0 * r1 + h1 * r0 + h22 * (5 * r9) + h3 * (5 * r8) + h4 * (5 * r7);
        c = d1 >>> 13;
        d1 &= 8191;
        d1 += h5 * (5 * r6) + h6 * (5 * r5) + h7 * (5 * r4) + h8 * (5 * r3) + h9 * (5 * r2);
        c += d1 >>> 13;
        d1 &= 8191;
        let d2 = c + h0 * r2 + h1 * r1 + h22 * r0 + h3 * (5 * r9) + h4 * (5 * r8);
        c = d2 >>> 13;
        d2 &= 8191;
        d2 += h5 * (5 * r7) + h6 * (5 * r6) + h7 * (5 * r5) + h8 * (5 * r4) + h9 * (5 * r3);
        c += d2 >>> 13;
        d2 &= 8191;
        let d3 = c + h0 * r3 + h1 * r2 + h22 * r1 + h3 * r0 + h4 * (5 * r9);
        c = d3 >>> 13;
        d3 &= 8191;
        d3 += h5 * (5 * r8) + h6 * (5 * r7) + h7 * (5 * r6) + h8 * (5 * r5) + h9 * (5 * r4);
        c += d3 >>> 13;
        d3 &= 8191;
        let d4 = c + h0 * r4 + h1 * r3 + h22 * r2 + h3 * r1 + h4 * r0;
        c = d4 >>> 13;
        d4 &= 8191;
        d4 += h5 * (5 * r9) + h6 * (5 * r8) + h7 * (5 * r7) + h8 * (5 * r6) + h9 * (5 * r5);
        c += d4 >>> 13;
        d4 &= 8191;
        let d5 = c + h0 * r5 + h1 * r4 + h22 * r3 + h3 * r2 + h4 * r1;
        c = d5 >>> 13;
        d5 &= 8191;
        d5 += h5 * r0 + h6 * (5 * r9) + h7 * (5 * r8) + h8 * (5 * r7) + h9 * (5 * r6);
        c += d5 >>> 13;
        d5 &= 8191;
        let d6 = c + h0 * r6 + h1 * r5 + h22 * r4 + h3 * r3 + h4 * r2;
        c = d6 >>> 13;
        d6 &= 8191;
        d6 += h5 * r1 + h6 * r0 + h7 * (5 * r9) + h8 * (5 * r8) + h9 * (5 * r7);
        c += d6 >>> 13;
        d6 &= 8191;
        let d7 = c + h0 * r7 + h1 * r6 + h22 * r5 + h3 * r4 + h4 * r3;
        c = d7 >>> 13;
        d7 &= 8191;
        d7 += h5 * r2 + h6 * r1 + h7 * r0 + h8 * (5 * r9) + h9 * (5 * r8);
        c += d7 >>> 13;
        d7 &= 8191;
        let d8 = c + h0 * r8 + h1 * r7 + h22 * r6 + h3 * r5 + h4 * r4;
        c = d8 >>> 13;
        d8 &= 8191;
        d8 += h5 * r3 + h6 * r2 + h7 * r1 + h8 * r0 + h9 * (5 * r9);
        c += d8 >>> 13;
        d8 &= 8191;
        let d9 = c + h0 * r9 + h1 * r8 + h22 * r7 + h3 * r6 + h4 * r5;
        c = d9 >>> 13;
        d9 &= 8191;
        d9 += h5 * r4 + h6 * r3 + h7 * r2 + h8 * r1 + h9 * r0;
        c += d9 >>> 13;
        d9 &= 8191;
        c = (c << 2) + c | 0;
        c = c + d0 | 0;
        d0 = c & 8191;
        c = c >>> 13;
        d1 += c;
        h2[0] = d0;
        h2[1] = d1;
        h2[2] = d2;
        h2[3] = d3;
        h2[4] = d4;
        h2[5] = d5;
        h2[6] = d6;
        h2[7] = d7;
        h2[8] = d8;
        h2[9] = d9;
      }
      finalize() {
        const { h: h2, pad } = this;
        const g = new Uint16Array(10);
        let c = h2[1] >>> 13;
        h2[1] &= 8191;
        for (let i = 2; i < 10; i++) {
          h2[i] += c;
          c = h2[i] >>> 13;
          h2[i] &= 8191;
        }
        h2[0] += c * 5;
        c = h2[0] >>> 13;
        h2[0] &= 8191;
        h2[1] += c;
        c = h2[1] >>> 13;
        h2[1] &= 8191;
        h2[2] += c;
        g[0] = h2[0] + 5;
        c = g[0] >>> 13;
        g[0] &= 8191;
        for (let i = 1; i < 10; i++) {
          g[i] = h2[i] + c;
          c = g[i] >>> 13;
          g[i] &= 8191;
        }
        g[9] -= 1 << 13;
        let mask = (c ^ 1) - 1;
        for (let i = 0; i < 10; i++)
          g[i] &= mask;
        mask = ~mask;
        for (let i = 0; i < 10; i++)
          h2[i] = h2[i] & mask | g[i];
        h2[0] = (h2[0] | h2[1] << 13) & 65535;
        h2[1] = (h2[1] >>> 3 | h2[2] << 10) & 65535;
        h2[2] = (h2[2] >>> 6 | h2[3] << 7) & 65535;
        h2[3] = (h2[3] >>> 9 | h2[4] << 4) & 65535;
        h2[4] = (h2[4] >>> 12 | h2[5] << 1 | h2[6] << 14) & 65535;
        h2[5] = (h2[6] >>> 2 | h2[7] << 11) & 65535;
        h2[6] = (h2[7] >>> 5 | h2[8] << 8) & 65535;
        h2[7] = (h2[8] >>> 8 | h2[9] << 5) & 65535;
        let f = h2[0] + pad[0];
        h2[0] = f & 65535;
        for (let i = 1; i < 8; i++) {
          f = (h2[i] + pad[i] | 0) + (f >>> 16) | 0;
          h2[i] = f & 65535;
        }
        clean2(g);
      }
      update(data) {
        aexists2(this);
        abytes2(data);
        data = copyBytes2(data);
        const { buffer, blockLen } = this;
        const len = data.length;
        for (let pos = 0; pos < len; ) {
          const take2 = Math.min(blockLen - this.pos, len - pos);
          if (take2 === blockLen) {
            for (; blockLen <= len - pos; pos += blockLen)
              this.process(data, pos);
            continue;
          }
          buffer.set(data.subarray(pos, pos + take2), this.pos);
          this.pos += take2;
          pos += take2;
          if (this.pos === blockLen) {
            this.process(buffer, 0, false);
            this.pos = 0;
          }
        }
        return this;
      }
      destroy() {
        clean2(this.h, this.r, this.buffer, this.pad);
      }
      digestInto(out) {
        aexists2(this);
        aoutput2(out, this);
        this.finished = true;
        const { buffer, h: h2 } = this;
        let { pos } = this;
        if (pos) {
          buffer[pos++] = 1;
          for (; pos < 16; pos++)
            buffer[pos] = 0;
          this.process(buffer, 0, true);
        }
        this.finalize();
        let opos = 0;
        for (let i = 0; i < 8; i++) {
          out[opos++] = h2[i] >>> 0;
          out[opos++] = h2[i] >>> 8;
        }
        return out;
      }
      digest() {
        const { buffer, outputLen } = this;
        this.digestInto(buffer);
        const res = buffer.slice(0, outputLen);
        this.destroy();
        return res;
      }
    };
    poly1305 = /* @__PURE__ */ (() => wrapConstructorWithKey((key) => new Poly1305(key)))();
  }
});

// ../typescript/node_modules/@noble/ciphers/chacha.js
var chacha_exports = {};
__export(chacha_exports, {
  _poly1305_aead: () => _poly1305_aead,
  chacha12: () => chacha12,
  chacha20: () => chacha20,
  chacha20orig: () => chacha20orig,
  chacha20poly1305: () => chacha20poly1305,
  chacha8: () => chacha8,
  hchacha: () => hchacha,
  rngChacha20: () => rngChacha20,
  rngChacha8: () => rngChacha8,
  xchacha20: () => xchacha20,
  xchacha20poly1305: () => xchacha20poly1305
});
function chachaCore(s, k, n, out, cnt, rounds = 20) {
  let y00 = s[0], y01 = s[1], y02 = s[2], y03 = s[3], y04 = k[0], y05 = k[1], y06 = k[2], y07 = k[3], y08 = k[4], y09 = k[5], y10 = k[6], y11 = k[7], y12 = cnt, y13 = n[0], y14 = n[1], y15 = n[2];
  let x00 = y00, x01 = y01, x02 = y02, x03 = y03, x04 = y04, x05 = y05, x06 = y06, x07 = y07, x08 = y08, x09 = y09, x10 = y10, x11 = y11, x12 = y12, x13 = y13, x14 = y14, x15 = y15;
  for (let r = 0; r < rounds; r += 2) {
    x00 = x00 + x04 | 0;
    x12 = rotl(x12 ^ x00, 16);
    x08 = x08 + x12 | 0;
    x04 = rotl(x04 ^ x08, 12);
    x00 = x00 + x04 | 0;
    x12 = rotl(x12 ^ x00, 8);
    x08 = x08 + x12 | 0;
    x04 = rotl(x04 ^ x08, 7);
    x01 = x01 + x05 | 0;
    x13 = rotl(x13 ^ x01, 16);
    x09 = x09 + x13 | 0;
    x05 = rotl(x05 ^ x09, 12);
    x01 = x01 + x05 | 0;
    x13 = rotl(x13 ^ x01, 8);
    x09 = x09 + x13 | 0;
    x05 = rotl(x05 ^ x09, 7);
    x02 = x02 + x06 | 0;
    x14 = rotl(x14 ^ x02, 16);
    x10 = x10 + x14 | 0;
    x06 = rotl(x06 ^ x10, 12);
    x02 = x02 + x06 | 0;
    x14 = rotl(x14 ^ x02, 8);
    x10 = x10 + x14 | 0;
    x06 = rotl(x06 ^ x10, 7);
    x03 = x03 + x07 | 0;
    x15 = rotl(x15 ^ x03, 16);
    x11 = x11 + x15 | 0;
    x07 = rotl(x07 ^ x11, 12);
    x03 = x03 + x07 | 0;
    x15 = rotl(x15 ^ x03, 8);
    x11 = x11 + x15 | 0;
    x07 = rotl(x07 ^ x11, 7);
    x00 = x00 + x05 | 0;
    x15 = rotl(x15 ^ x00, 16);
    x10 = x10 + x15 | 0;
    x05 = rotl(x05 ^ x10, 12);
    x00 = x00 + x05 | 0;
    x15 = rotl(x15 ^ x00, 8);
    x10 = x10 + x15 | 0;
    x05 = rotl(x05 ^ x10, 7);
    x01 = x01 + x06 | 0;
    x12 = rotl(x12 ^ x01, 16);
    x11 = x11 + x12 | 0;
    x06 = rotl(x06 ^ x11, 12);
    x01 = x01 + x06 | 0;
    x12 = rotl(x12 ^ x01, 8);
    x11 = x11 + x12 | 0;
    x06 = rotl(x06 ^ x11, 7);
    x02 = x02 + x07 | 0;
    x13 = rotl(x13 ^ x02, 16);
    x08 = x08 + x13 | 0;
    x07 = rotl(x07 ^ x08, 12);
    x02 = x02 + x07 | 0;
    x13 = rotl(x13 ^ x02, 8);
    x08 = x08 + x13 | 0;
    x07 = rotl(x07 ^ x08, 7);
    x03 = x03 + x04 | 0;
    x14 = rotl(x14 ^ x03, 16);
    x09 = x09 + x14 | 0;
    x04 = rotl(x04 ^ x09, 12);
    x03 = x03 + x04 | 0;
    x14 = rotl(x14 ^ x03, 8);
    x09 = x09 + x14 | 0;
    x04 = rotl(x04 ^ x09, 7);
  }
  let oi = 0;
  out[oi++] = y00 + x00 | 0;
  out[oi++] = y01 + x01 | 0;
  out[oi++] = y02 + x02 | 0;
  out[oi++] = y03 + x03 | 0;
  out[oi++] = y04 + x04 | 0;
  out[oi++] = y05 + x05 | 0;
  out[oi++] = y06 + x06 | 0;
  out[oi++] = y07 + x07 | 0;
  out[oi++] = y08 + x08 | 0;
  out[oi++] = y09 + x09 | 0;
  out[oi++] = y10 + x10 | 0;
  out[oi++] = y11 + x11 | 0;
  out[oi++] = y12 + x12 | 0;
  out[oi++] = y13 + x13 | 0;
  out[oi++] = y14 + x14 | 0;
  out[oi++] = y15 + x15 | 0;
}
function hchacha(s, k, i, out) {
  let x00 = s[0], x01 = s[1], x02 = s[2], x03 = s[3], x04 = k[0], x05 = k[1], x06 = k[2], x07 = k[3], x08 = k[4], x09 = k[5], x10 = k[6], x11 = k[7], x12 = i[0], x13 = i[1], x14 = i[2], x15 = i[3];
  for (let r = 0; r < 20; r += 2) {
    x00 = x00 + x04 | 0;
    x12 = rotl(x12 ^ x00, 16);
    x08 = x08 + x12 | 0;
    x04 = rotl(x04 ^ x08, 12);
    x00 = x00 + x04 | 0;
    x12 = rotl(x12 ^ x00, 8);
    x08 = x08 + x12 | 0;
    x04 = rotl(x04 ^ x08, 7);
    x01 = x01 + x05 | 0;
    x13 = rotl(x13 ^ x01, 16);
    x09 = x09 + x13 | 0;
    x05 = rotl(x05 ^ x09, 12);
    x01 = x01 + x05 | 0;
    x13 = rotl(x13 ^ x01, 8);
    x09 = x09 + x13 | 0;
    x05 = rotl(x05 ^ x09, 7);
    x02 = x02 + x06 | 0;
    x14 = rotl(x14 ^ x02, 16);
    x10 = x10 + x14 | 0;
    x06 = rotl(x06 ^ x10, 12);
    x02 = x02 + x06 | 0;
    x14 = rotl(x14 ^ x02, 8);
    x10 = x10 + x14 | 0;
    x06 = rotl(x06 ^ x10, 7);
    x03 = x03 + x07 | 0;
    x15 = rotl(x15 ^ x03, 16);
    x11 = x11 + x15 | 0;
    x07 = rotl(x07 ^ x11, 12);
    x03 = x03 + x07 | 0;
    x15 = rotl(x15 ^ x03, 8);
    x11 = x11 + x15 | 0;
    x07 = rotl(x07 ^ x11, 7);
    x00 = x00 + x05 | 0;
    x15 = rotl(x15 ^ x00, 16);
    x10 = x10 + x15 | 0;
    x05 = rotl(x05 ^ x10, 12);
    x00 = x00 + x05 | 0;
    x15 = rotl(x15 ^ x00, 8);
    x10 = x10 + x15 | 0;
    x05 = rotl(x05 ^ x10, 7);
    x01 = x01 + x06 | 0;
    x12 = rotl(x12 ^ x01, 16);
    x11 = x11 + x12 | 0;
    x06 = rotl(x06 ^ x11, 12);
    x01 = x01 + x06 | 0;
    x12 = rotl(x12 ^ x01, 8);
    x11 = x11 + x12 | 0;
    x06 = rotl(x06 ^ x11, 7);
    x02 = x02 + x07 | 0;
    x13 = rotl(x13 ^ x02, 16);
    x08 = x08 + x13 | 0;
    x07 = rotl(x07 ^ x08, 12);
    x02 = x02 + x07 | 0;
    x13 = rotl(x13 ^ x02, 8);
    x08 = x08 + x13 | 0;
    x07 = rotl(x07 ^ x08, 7);
    x03 = x03 + x04 | 0;
    x14 = rotl(x14 ^ x03, 16);
    x09 = x09 + x14 | 0;
    x04 = rotl(x04 ^ x09, 12);
    x03 = x03 + x04 | 0;
    x14 = rotl(x14 ^ x03, 8);
    x09 = x09 + x14 | 0;
    x04 = rotl(x04 ^ x09, 7);
  }
  let oi = 0;
  out[oi++] = x00;
  out[oi++] = x01;
  out[oi++] = x02;
  out[oi++] = x03;
  out[oi++] = x12;
  out[oi++] = x13;
  out[oi++] = x14;
  out[oi++] = x15;
}
function computeTag(fn, key, nonce, ciphertext, AAD) {
  if (AAD !== void 0)
    abytes2(AAD, void 0, "AAD");
  const authKey = fn(key, nonce, ZEROS32);
  const lengths = u64Lengths(ciphertext.length, AAD ? AAD.length : 0, true);
  const h2 = poly1305.create(authKey);
  if (AAD)
    updatePadded(h2, AAD);
  updatePadded(h2, ciphertext);
  h2.update(lengths);
  const res = h2.digest();
  clean2(authKey, lengths);
  return res;
}
var chacha20orig, chacha20, xchacha20, chacha8, chacha12, ZEROS16, updatePadded, ZEROS32, _poly1305_aead, chacha20poly1305, xchacha20poly1305, rngChacha20, rngChacha8;
var init_chacha = __esm({
  "../typescript/node_modules/@noble/ciphers/chacha.js"() {
    init_arx();
    init_poly1305();
    init_utils();
    chacha20orig = /* @__PURE__ */ createCipher(chachaCore, {
      counterRight: false,
      counterLength: 8,
      allowShortKeys: true
    });
    chacha20 = /* @__PURE__ */ createCipher(chachaCore, {
      counterRight: false,
      counterLength: 4,
      allowShortKeys: false
    });
    xchacha20 = /* @__PURE__ */ createCipher(chachaCore, {
      counterRight: false,
      counterLength: 8,
      extendNonceFn: hchacha,
      allowShortKeys: false
    });
    chacha8 = /* @__PURE__ */ createCipher(chachaCore, {
      counterRight: false,
      counterLength: 4,
      rounds: 8
    });
    chacha12 = /* @__PURE__ */ createCipher(chachaCore, {
      counterRight: false,
      counterLength: 4,
      rounds: 12
    });
    ZEROS16 = /* @__PURE__ */ new Uint8Array(16);
    updatePadded = (h2, msg) => {
      h2.update(msg);
      const leftover = msg.length % 16;
      if (leftover)
        h2.update(ZEROS16.subarray(leftover));
    };
    ZEROS32 = /* @__PURE__ */ new Uint8Array(32);
    _poly1305_aead = (xorStream) => (key, nonce, AAD) => {
      const tagLength = 16;
      return {
        encrypt(plaintext, output) {
          const plength = plaintext.length;
          output = getOutput(plength + tagLength, output, false);
          output.set(plaintext);
          const oPlain = output.subarray(0, -tagLength);
          xorStream(key, nonce, oPlain, oPlain, 1);
          const tag = computeTag(xorStream, key, nonce, oPlain, AAD);
          output.set(tag, plength);
          clean2(tag);
          return output;
        },
        decrypt(ciphertext, output) {
          output = getOutput(ciphertext.length - tagLength, output, false);
          const data = ciphertext.subarray(0, -tagLength);
          const passedTag = ciphertext.subarray(-tagLength);
          const tag = computeTag(xorStream, key, nonce, data, AAD);
          if (!equalBytes(passedTag, tag))
            throw new Error("invalid tag");
          output.set(ciphertext.subarray(0, -tagLength));
          xorStream(key, nonce, output, output, 1);
          clean2(tag);
          return output;
        }
      };
    };
    chacha20poly1305 = /* @__PURE__ */ wrapCipher({ blockSize: 64, nonceLength: 12, tagLength: 16 }, _poly1305_aead(chacha20));
    xchacha20poly1305 = /* @__PURE__ */ wrapCipher({ blockSize: 64, nonceLength: 24, tagLength: 16 }, _poly1305_aead(xchacha20));
    rngChacha20 = /* @__PURE__ */ createPRG(chacha20orig, 64, 32, 8);
    rngChacha8 = /* @__PURE__ */ createPRG(chacha8, 64, 32, 12);
  }
});

// ../typescript/node_modules/@noble/hashes/utils.js
function isBytes3(a) {
  return a instanceof Uint8Array || ArrayBuffer.isView(a) && a.constructor.name === "Uint8Array";
}
function anumber3(n, title = "") {
  if (!Number.isSafeInteger(n) || n < 0) {
    const prefix = title && `"${title}" `;
    throw new Error(`${prefix}expected integer >= 0, got ${n}`);
  }
}
function abytes3(value, length, title = "") {
  const bytes = isBytes3(value);
  const len = value?.length;
  const needsLen = length !== void 0;
  if (!bytes || needsLen && len !== length) {
    const prefix = title && `"${title}" `;
    const ofLen = needsLen ? ` of length ${length}` : "";
    const got = bytes ? `length=${len}` : `type=${typeof value}`;
    throw new Error(prefix + "expected Uint8Array" + ofLen + ", got " + got);
  }
  return value;
}
function ahash2(h2) {
  if (typeof h2 !== "function" || typeof h2.create !== "function")
    throw new Error("Hash must wrapped by utils.createHasher");
  anumber3(h2.outputLen);
  anumber3(h2.blockLen);
}
function aexists3(instance, checkFinished = true) {
  if (instance.destroyed)
    throw new Error("Hash instance has been destroyed");
  if (checkFinished && instance.finished)
    throw new Error("Hash#digest() has already been called");
}
function aoutput3(out, instance) {
  abytes3(out, void 0, "digestInto() output");
  const min = instance.outputLen;
  if (out.length < min) {
    throw new Error('"digestInto() output" expected to be of length >=' + min);
  }
}
function u323(arr) {
  return new Uint32Array(arr.buffer, arr.byteOffset, Math.floor(arr.byteLength / 4));
}
function clean3(...arrays) {
  for (let i = 0; i < arrays.length; i++) {
    arrays[i].fill(0);
  }
}
function createView3(arr) {
  return new DataView(arr.buffer, arr.byteOffset, arr.byteLength);
}
function rotr2(word, shift) {
  return word << 32 - shift | word >>> shift;
}
function byteSwap(word) {
  return word << 24 & 4278190080 | word << 8 & 16711680 | word >>> 8 & 65280 | word >>> 24 & 255;
}
function byteSwap32(arr) {
  for (let i = 0; i < arr.length; i++) {
    arr[i] = byteSwap(arr[i]);
  }
  return arr;
}
function bytesToHex2(bytes) {
  abytes3(bytes);
  if (hasHexBuiltin)
    return bytes.toHex();
  let hex = "";
  for (let i = 0; i < bytes.length; i++) {
    hex += hexes[bytes[i]];
  }
  return hex;
}
function asciiToBase16(ch) {
  if (ch >= asciis._0 && ch <= asciis._9)
    return ch - asciis._0;
  if (ch >= asciis.A && ch <= asciis.F)
    return ch - (asciis.A - 10);
  if (ch >= asciis.a && ch <= asciis.f)
    return ch - (asciis.a - 10);
  return;
}
function hexToBytes2(hex) {
  if (typeof hex !== "string")
    throw new Error("hex string expected, got " + typeof hex);
  if (hasHexBuiltin)
    return Uint8Array.fromHex(hex);
  const hl = hex.length;
  const al = hl / 2;
  if (hl % 2)
    throw new Error("hex string expected, got unpadded hex of length " + hl);
  const array = new Uint8Array(al);
  for (let ai = 0, hi = 0; ai < al; ai++, hi += 2) {
    const n1 = asciiToBase16(hex.charCodeAt(hi));
    const n2 = asciiToBase16(hex.charCodeAt(hi + 1));
    if (n1 === void 0 || n2 === void 0) {
      const char = hex[hi] + hex[hi + 1];
      throw new Error('hex string expected, got non-hex character "' + char + '" at index ' + hi);
    }
    array[ai] = n1 * 16 + n2;
  }
  return array;
}
function concatBytes2(...arrays) {
  let sum = 0;
  for (let i = 0; i < arrays.length; i++) {
    const a = arrays[i];
    abytes3(a);
    sum += a.length;
  }
  const res = new Uint8Array(sum);
  for (let i = 0, pad = 0; i < arrays.length; i++) {
    const a = arrays[i];
    res.set(a, pad);
    pad += a.length;
  }
  return res;
}
function createHasher2(hashCons, info = {}) {
  const hashC = (msg, opts) => hashCons(opts).update(msg).digest();
  const tmp = hashCons(void 0);
  hashC.outputLen = tmp.outputLen;
  hashC.blockLen = tmp.blockLen;
  hashC.create = (opts) => hashCons(opts);
  Object.assign(hashC, info);
  return Object.freeze(hashC);
}
function randomBytes3(bytesLength = 32) {
  const cr = typeof globalThis === "object" ? globalThis.crypto : null;
  if (typeof cr?.getRandomValues !== "function")
    throw new Error("crypto.getRandomValues must be defined");
  return cr.getRandomValues(new Uint8Array(bytesLength));
}
var isLE3, swap32IfBE2, hasHexBuiltin, hexes, asciis, oidNist2;
var init_utils2 = __esm({
  "../typescript/node_modules/@noble/hashes/utils.js"() {
    isLE3 = /* @__PURE__ */ (() => new Uint8Array(new Uint32Array([287454020]).buffer)[0] === 68)();
    swap32IfBE2 = isLE3 ? (u) => u : byteSwap32;
    hasHexBuiltin = /* @__PURE__ */ (() => (
      // @ts-ignore
      typeof Uint8Array.from([]).toHex === "function" && typeof Uint8Array.fromHex === "function"
    ))();
    hexes = /* @__PURE__ */ Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
    asciis = { _0: 48, _9: 57, A: 65, F: 70, a: 97, f: 102 };
    oidNist2 = (suffix) => ({
      oid: Uint8Array.from([6, 9, 96, 134, 72, 1, 101, 3, 4, 2, suffix])
    });
  }
});

// ../typescript/node_modules/@noble/hashes/_md.js
function Chi2(a, b, c) {
  return a & b ^ ~a & c;
}
function Maj2(a, b, c) {
  return a & b ^ a & c ^ b & c;
}
var HashMD2, SHA256_IV2, SHA384_IV2, SHA512_IV2;
var init_md = __esm({
  "../typescript/node_modules/@noble/hashes/_md.js"() {
    init_utils2();
    HashMD2 = class {
      blockLen;
      outputLen;
      padOffset;
      isLE;
      // For partial updates less than block size
      buffer;
      view;
      finished = false;
      length = 0;
      pos = 0;
      destroyed = false;
      constructor(blockLen, outputLen, padOffset, isLE4) {
        this.blockLen = blockLen;
        this.outputLen = outputLen;
        this.padOffset = padOffset;
        this.isLE = isLE4;
        this.buffer = new Uint8Array(blockLen);
        this.view = createView3(this.buffer);
      }
      update(data) {
        aexists3(this);
        abytes3(data);
        const { view, buffer, blockLen } = this;
        const len = data.length;
        for (let pos = 0; pos < len; ) {
          const take2 = Math.min(blockLen - this.pos, len - pos);
          if (take2 === blockLen) {
            const dataView = createView3(data);
            for (; blockLen <= len - pos; pos += blockLen)
              this.process(dataView, pos);
            continue;
          }
          buffer.set(data.subarray(pos, pos + take2), this.pos);
          this.pos += take2;
          pos += take2;
          if (this.pos === blockLen) {
            this.process(view, 0);
            this.pos = 0;
          }
        }
        this.length += data.length;
        this.roundClean();
        return this;
      }
      digestInto(out) {
        aexists3(this);
        aoutput3(out, this);
        this.finished = true;
        const { buffer, view, blockLen, isLE: isLE4 } = this;
        let { pos } = this;
        buffer[pos++] = 128;
        clean3(this.buffer.subarray(pos));
        if (this.padOffset > blockLen - pos) {
          this.process(view, 0);
          pos = 0;
        }
        for (let i = pos; i < blockLen; i++)
          buffer[i] = 0;
        view.setBigUint64(blockLen - 8, BigInt(this.length * 8), isLE4);
        this.process(view, 0);
        const oview = createView3(out);
        const len = this.outputLen;
        if (len % 4)
          throw new Error("_sha2: outputLen must be aligned to 32bit");
        const outLen = len / 4;
        const state = this.get();
        if (outLen > state.length)
          throw new Error("_sha2: outputLen bigger than state");
        for (let i = 0; i < outLen; i++)
          oview.setUint32(4 * i, state[i], isLE4);
      }
      digest() {
        const { buffer, outputLen } = this;
        this.digestInto(buffer);
        const res = buffer.slice(0, outputLen);
        this.destroy();
        return res;
      }
      _cloneInto(to) {
        to ||= new this.constructor();
        to.set(...this.get());
        const { blockLen, buffer, length, finished, destroyed, pos } = this;
        to.destroyed = destroyed;
        to.finished = finished;
        to.length = length;
        to.pos = pos;
        if (length % blockLen)
          to.buffer.set(buffer);
        return to;
      }
      clone() {
        return this._cloneInto();
      }
    };
    SHA256_IV2 = /* @__PURE__ */ Uint32Array.from([
      1779033703,
      3144134277,
      1013904242,
      2773480762,
      1359893119,
      2600822924,
      528734635,
      1541459225
    ]);
    SHA384_IV2 = /* @__PURE__ */ Uint32Array.from([
      3418070365,
      3238371032,
      1654270250,
      914150663,
      2438529370,
      812702999,
      355462360,
      4144912697,
      1731405415,
      4290775857,
      2394180231,
      1750603025,
      3675008525,
      1694076839,
      1203062813,
      3204075428
    ]);
    SHA512_IV2 = /* @__PURE__ */ Uint32Array.from([
      1779033703,
      4089235720,
      3144134277,
      2227873595,
      1013904242,
      4271175723,
      2773480762,
      1595750129,
      1359893119,
      2917565137,
      2600822924,
      725511199,
      528734635,
      4215389547,
      1541459225,
      327033209
    ]);
  }
});

// ../typescript/node_modules/@noble/hashes/_u64.js
function fromBig2(n, le = false) {
  if (le)
    return { h: Number(n & U32_MASK642), l: Number(n >> _32n2 & U32_MASK642) };
  return { h: Number(n >> _32n2 & U32_MASK642) | 0, l: Number(n & U32_MASK642) | 0 };
}
function split2(lst, le = false) {
  const len = lst.length;
  let Ah = new Uint32Array(len);
  let Al = new Uint32Array(len);
  for (let i = 0; i < len; i++) {
    const { h: h2, l } = fromBig2(lst[i], le);
    [Ah[i], Al[i]] = [h2, l];
  }
  return [Ah, Al];
}
function add2(Ah, Al, Bh, Bl) {
  const l = (Al >>> 0) + (Bl >>> 0);
  return { h: Ah + Bh + (l / 2 ** 32 | 0) | 0, l: l | 0 };
}
var U32_MASK642, _32n2, shrSH2, shrSL2, rotrSH2, rotrSL2, rotrBH2, rotrBL2, rotlSH2, rotlSL2, rotlBH2, rotlBL2, add3L2, add3H2, add4L2, add4H2, add5L2, add5H2;
var init_u64 = __esm({
  "../typescript/node_modules/@noble/hashes/_u64.js"() {
    U32_MASK642 = /* @__PURE__ */ BigInt(2 ** 32 - 1);
    _32n2 = /* @__PURE__ */ BigInt(32);
    shrSH2 = (h2, _l, s) => h2 >>> s;
    shrSL2 = (h2, l, s) => h2 << 32 - s | l >>> s;
    rotrSH2 = (h2, l, s) => h2 >>> s | l << 32 - s;
    rotrSL2 = (h2, l, s) => h2 << 32 - s | l >>> s;
    rotrBH2 = (h2, l, s) => h2 << 64 - s | l >>> s - 32;
    rotrBL2 = (h2, l, s) => h2 >>> s - 32 | l << 64 - s;
    rotlSH2 = (h2, l, s) => h2 << s | l >>> 32 - s;
    rotlSL2 = (h2, l, s) => l << s | h2 >>> 32 - s;
    rotlBH2 = (h2, l, s) => l << s - 32 | h2 >>> 64 - s;
    rotlBL2 = (h2, l, s) => h2 << s - 32 | l >>> 64 - s;
    add3L2 = (Al, Bl, Cl) => (Al >>> 0) + (Bl >>> 0) + (Cl >>> 0);
    add3H2 = (low, Ah, Bh, Ch) => Ah + Bh + Ch + (low / 2 ** 32 | 0) | 0;
    add4L2 = (Al, Bl, Cl, Dl) => (Al >>> 0) + (Bl >>> 0) + (Cl >>> 0) + (Dl >>> 0);
    add4H2 = (low, Ah, Bh, Ch, Dh) => Ah + Bh + Ch + Dh + (low / 2 ** 32 | 0) | 0;
    add5L2 = (Al, Bl, Cl, Dl, El) => (Al >>> 0) + (Bl >>> 0) + (Cl >>> 0) + (Dl >>> 0) + (El >>> 0);
    add5H2 = (low, Ah, Bh, Ch, Dh, Eh) => Ah + Bh + Ch + Dh + Eh + (low / 2 ** 32 | 0) | 0;
  }
});

// ../typescript/node_modules/@noble/hashes/sha2.js
var SHA256_K, SHA256_W, SHA2_32B, _SHA256, K512, SHA512_Kh, SHA512_Kl, SHA512_W_H, SHA512_W_L, SHA2_64B, _SHA512, _SHA384, sha2562, sha5122, sha3842;
var init_sha2 = __esm({
  "../typescript/node_modules/@noble/hashes/sha2.js"() {
    init_md();
    init_u64();
    init_utils2();
    SHA256_K = /* @__PURE__ */ Uint32Array.from([
      1116352408,
      1899447441,
      3049323471,
      3921009573,
      961987163,
      1508970993,
      2453635748,
      2870763221,
      3624381080,
      310598401,
      607225278,
      1426881987,
      1925078388,
      2162078206,
      2614888103,
      3248222580,
      3835390401,
      4022224774,
      264347078,
      604807628,
      770255983,
      1249150122,
      1555081692,
      1996064986,
      2554220882,
      2821834349,
      2952996808,
      3210313671,
      3336571891,
      3584528711,
      113926993,
      338241895,
      666307205,
      773529912,
      1294757372,
      1396182291,
      1695183700,
      1986661051,
      2177026350,
      2456956037,
      2730485921,
      2820302411,
      3259730800,
      3345764771,
      3516065817,
      3600352804,
      4094571909,
      275423344,
      430227734,
      506948616,
      659060556,
      883997877,
      958139571,
      1322822218,
      1537002063,
      1747873779,
      1955562222,
      2024104815,
      2227730452,
      2361852424,
      2428436474,
      2756734187,
      3204031479,
      3329325298
    ]);
    SHA256_W = /* @__PURE__ */ new Uint32Array(64);
    SHA2_32B = class extends HashMD2 {
      constructor(outputLen) {
        super(64, outputLen, 8, false);
      }
      get() {
        const { A, B, C, D, E, F, G, H } = this;
        return [A, B, C, D, E, F, G, H];
      }
      // prettier-ignore
      set(A, B, C, D, E, F, G, H) {
        this.A = A | 0;
        this.B = B | 0;
        this.C = C | 0;
        this.D = D | 0;
        this.E = E | 0;
        this.F = F | 0;
        this.G = G | 0;
        this.H = H | 0;
      }
      process(view, offset) {
        for (let i = 0; i < 16; i++, offset += 4)
          SHA256_W[i] = view.getUint32(offset, false);
        for (let i = 16; i < 64; i++) {
          const W15 = SHA256_W[i - 15];
          const W2 = SHA256_W[i - 2];
          const s0 = rotr2(W15, 7) ^ rotr2(W15, 18) ^ W15 >>> 3;
          const s1 = rotr2(W2, 17) ^ rotr2(W2, 19) ^ W2 >>> 10;
          SHA256_W[i] = s1 + SHA256_W[i - 7] + s0 + SHA256_W[i - 16] | 0;
        }
        let { A, B, C, D, E, F, G, H } = this;
        for (let i = 0; i < 64; i++) {
          const sigma1 = rotr2(E, 6) ^ rotr2(E, 11) ^ rotr2(E, 25);
          const T1 = H + sigma1 + Chi2(E, F, G) + SHA256_K[i] + SHA256_W[i] | 0;
          const sigma0 = rotr2(A, 2) ^ rotr2(A, 13) ^ rotr2(A, 22);
          const T2 = sigma0 + Maj2(A, B, C) | 0;
          H = G;
          G = F;
          F = E;
          E = D + T1 | 0;
          D = C;
          C = B;
          B = A;
          A = T1 + T2 | 0;
        }
        A = A + this.A | 0;
        B = B + this.B | 0;
        C = C + this.C | 0;
        D = D + this.D | 0;
        E = E + this.E | 0;
        F = F + this.F | 0;
        G = G + this.G | 0;
        H = H + this.H | 0;
        this.set(A, B, C, D, E, F, G, H);
      }
      roundClean() {
        clean3(SHA256_W);
      }
      destroy() {
        this.set(0, 0, 0, 0, 0, 0, 0, 0);
        clean3(this.buffer);
      }
    };
    _SHA256 = class extends SHA2_32B {
      // We cannot use array here since array allows indexing by variable
      // which means optimizer/compiler cannot use registers.
      A = SHA256_IV2[0] | 0;
      B = SHA256_IV2[1] | 0;
      C = SHA256_IV2[2] | 0;
      D = SHA256_IV2[3] | 0;
      E = SHA256_IV2[4] | 0;
      F = SHA256_IV2[5] | 0;
      G = SHA256_IV2[6] | 0;
      H = SHA256_IV2[7] | 0;
      constructor() {
        super(32);
      }
    };
    K512 = /* @__PURE__ */ (() => split2([
      "0x428a2f98d728ae22",
      "0x7137449123ef65cd",
      "0xb5c0fbcfec4d3b2f",
      "0xe9b5dba58189dbbc",
      "0x3956c25bf348b538",
      "0x59f111f1b605d019",
      "0x923f82a4af194f9b",
      "0xab1c5ed5da6d8118",
      "0xd807aa98a3030242",
      "0x12835b0145706fbe",
      "0x243185be4ee4b28c",
      "0x550c7dc3d5ffb4e2",
      "0x72be5d74f27b896f",
      "0x80deb1fe3b1696b1",
      "0x9bdc06a725c71235",
      "0xc19bf174cf692694",
      "0xe49b69c19ef14ad2",
      "0xefbe4786384f25e3",
      "0x0fc19dc68b8cd5b5",
      "0x240ca1cc77ac9c65",
      "0x2de92c6f592b0275",
      "0x4a7484aa6ea6e483",
      "0x5cb0a9dcbd41fbd4",
      "0x76f988da831153b5",
      "0x983e5152ee66dfab",
      "0xa831c66d2db43210",
      "0xb00327c898fb213f",
      "0xbf597fc7beef0ee4",
      "0xc6e00bf33da88fc2",
      "0xd5a79147930aa725",
      "0x06ca6351e003826f",
      "0x142929670a0e6e70",
      "0x27b70a8546d22ffc",
      "0x2e1b21385c26c926",
      "0x4d2c6dfc5ac42aed",
      "0x53380d139d95b3df",
      "0x650a73548baf63de",
      "0x766a0abb3c77b2a8",
      "0x81c2c92e47edaee6",
      "0x92722c851482353b",
      "0xa2bfe8a14cf10364",
      "0xa81a664bbc423001",
      "0xc24b8b70d0f89791",
      "0xc76c51a30654be30",
      "0xd192e819d6ef5218",
      "0xd69906245565a910",
      "0xf40e35855771202a",
      "0x106aa07032bbd1b8",
      "0x19a4c116b8d2d0c8",
      "0x1e376c085141ab53",
      "0x2748774cdf8eeb99",
      "0x34b0bcb5e19b48a8",
      "0x391c0cb3c5c95a63",
      "0x4ed8aa4ae3418acb",
      "0x5b9cca4f7763e373",
      "0x682e6ff3d6b2b8a3",
      "0x748f82ee5defb2fc",
      "0x78a5636f43172f60",
      "0x84c87814a1f0ab72",
      "0x8cc702081a6439ec",
      "0x90befffa23631e28",
      "0xa4506cebde82bde9",
      "0xbef9a3f7b2c67915",
      "0xc67178f2e372532b",
      "0xca273eceea26619c",
      "0xd186b8c721c0c207",
      "0xeada7dd6cde0eb1e",
      "0xf57d4f7fee6ed178",
      "0x06f067aa72176fba",
      "0x0a637dc5a2c898a6",
      "0x113f9804bef90dae",
      "0x1b710b35131c471b",
      "0x28db77f523047d84",
      "0x32caab7b40c72493",
      "0x3c9ebe0a15c9bebc",
      "0x431d67c49c100d4c",
      "0x4cc5d4becb3e42b6",
      "0x597f299cfc657e2a",
      "0x5fcb6fab3ad6faec",
      "0x6c44198c4a475817"
    ].map((n) => BigInt(n))))();
    SHA512_Kh = /* @__PURE__ */ (() => K512[0])();
    SHA512_Kl = /* @__PURE__ */ (() => K512[1])();
    SHA512_W_H = /* @__PURE__ */ new Uint32Array(80);
    SHA512_W_L = /* @__PURE__ */ new Uint32Array(80);
    SHA2_64B = class extends HashMD2 {
      constructor(outputLen) {
        super(128, outputLen, 16, false);
      }
      // prettier-ignore
      get() {
        const { Ah, Al, Bh, Bl, Ch, Cl, Dh, Dl, Eh, El, Fh, Fl, Gh, Gl, Hh, Hl } = this;
        return [Ah, Al, Bh, Bl, Ch, Cl, Dh, Dl, Eh, El, Fh, Fl, Gh, Gl, Hh, Hl];
      }
      // prettier-ignore
      set(Ah, Al, Bh, Bl, Ch, Cl, Dh, Dl, Eh, El, Fh, Fl, Gh, Gl, Hh, Hl) {
        this.Ah = Ah | 0;
        this.Al = Al | 0;
        this.Bh = Bh | 0;
        this.Bl = Bl | 0;
        this.Ch = Ch | 0;
        this.Cl = Cl | 0;
        this.Dh = Dh | 0;
        this.Dl = Dl | 0;
        this.Eh = Eh | 0;
        this.El = El | 0;
        this.Fh = Fh | 0;
        this.Fl = Fl | 0;
        this.Gh = Gh | 0;
        this.Gl = Gl | 0;
        this.Hh = Hh | 0;
        this.Hl = Hl | 0;
      }
      process(view, offset) {
        for (let i = 0; i < 16; i++, offset += 4) {
          SHA512_W_H[i] = view.getUint32(offset);
          SHA512_W_L[i] = view.getUint32(offset += 4);
        }
        for (let i = 16; i < 80; i++) {
          const W15h = SHA512_W_H[i - 15] | 0;
          const W15l = SHA512_W_L[i - 15] | 0;
          const s0h = rotrSH2(W15h, W15l, 1) ^ rotrSH2(W15h, W15l, 8) ^ shrSH2(W15h, W15l, 7);
          const s0l = rotrSL2(W15h, W15l, 1) ^ rotrSL2(W15h, W15l, 8) ^ shrSL2(W15h, W15l, 7);
          const W2h = SHA512_W_H[i - 2] | 0;
          const W2l = SHA512_W_L[i - 2] | 0;
          const s1h = rotrSH2(W2h, W2l, 19) ^ rotrBH2(W2h, W2l, 61) ^ shrSH2(W2h, W2l, 6);
          const s1l = rotrSL2(W2h, W2l, 19) ^ rotrBL2(W2h, W2l, 61) ^ shrSL2(W2h, W2l, 6);
          const SUMl = add4L2(s0l, s1l, SHA512_W_L[i - 7], SHA512_W_L[i - 16]);
          const SUMh = add4H2(SUMl, s0h, s1h, SHA512_W_H[i - 7], SHA512_W_H[i - 16]);
          SHA512_W_H[i] = SUMh | 0;
          SHA512_W_L[i] = SUMl | 0;
        }
        let { Ah, Al, Bh, Bl, Ch, Cl, Dh, Dl, Eh, El, Fh, Fl, Gh, Gl, Hh, Hl } = this;
        for (let i = 0; i < 80; i++) {
          const sigma1h = rotrSH2(Eh, El, 14) ^ rotrSH2(Eh, El, 18) ^ rotrBH2(Eh, El, 41);
          const sigma1l = rotrSL2(Eh, El, 14) ^ rotrSL2(Eh, El, 18) ^ rotrBL2(Eh, El, 41);
          const CHIh = Eh & Fh ^ ~Eh & Gh;
          const CHIl = El & Fl ^ ~El & Gl;
          const T1ll = add5L2(Hl, sigma1l, CHIl, SHA512_Kl[i], SHA512_W_L[i]);
          const T1h = add5H2(T1ll, Hh, sigma1h, CHIh, SHA512_Kh[i], SHA512_W_H[i]);
          const T1l = T1ll | 0;
          const sigma0h = rotrSH2(Ah, Al, 28) ^ rotrBH2(Ah, Al, 34) ^ rotrBH2(Ah, Al, 39);
          const sigma0l = rotrSL2(Ah, Al, 28) ^ rotrBL2(Ah, Al, 34) ^ rotrBL2(Ah, Al, 39);
          const MAJh = Ah & Bh ^ Ah & Ch ^ Bh & Ch;
          const MAJl = Al & Bl ^ Al & Cl ^ Bl & Cl;
          Hh = Gh | 0;
          Hl = Gl | 0;
          Gh = Fh | 0;
          Gl = Fl | 0;
          Fh = Eh | 0;
          Fl = El | 0;
          ({ h: Eh, l: El } = add2(Dh | 0, Dl | 0, T1h | 0, T1l | 0));
          Dh = Ch | 0;
          Dl = Cl | 0;
          Ch = Bh | 0;
          Cl = Bl | 0;
          Bh = Ah | 0;
          Bl = Al | 0;
          const All = add3L2(T1l, sigma0l, MAJl);
          Ah = add3H2(All, T1h, sigma0h, MAJh);
          Al = All | 0;
        }
        ({ h: Ah, l: Al } = add2(this.Ah | 0, this.Al | 0, Ah | 0, Al | 0));
        ({ h: Bh, l: Bl } = add2(this.Bh | 0, this.Bl | 0, Bh | 0, Bl | 0));
        ({ h: Ch, l: Cl } = add2(this.Ch | 0, this.Cl | 0, Ch | 0, Cl | 0));
        ({ h: Dh, l: Dl } = add2(this.Dh | 0, this.Dl | 0, Dh | 0, Dl | 0));
        ({ h: Eh, l: El } = add2(this.Eh | 0, this.El | 0, Eh | 0, El | 0));
        ({ h: Fh, l: Fl } = add2(this.Fh | 0, this.Fl | 0, Fh | 0, Fl | 0));
        ({ h: Gh, l: Gl } = add2(this.Gh | 0, this.Gl | 0, Gh | 0, Gl | 0));
        ({ h: Hh, l: Hl } = add2(this.Hh | 0, this.Hl | 0, Hh | 0, Hl | 0));
        this.set(Ah, Al, Bh, Bl, Ch, Cl, Dh, Dl, Eh, El, Fh, Fl, Gh, Gl, Hh, Hl);
      }
      roundClean() {
        clean3(SHA512_W_H, SHA512_W_L);
      }
      destroy() {
        clean3(this.buffer);
        this.set(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
      }
    };
    _SHA512 = class extends SHA2_64B {
      Ah = SHA512_IV2[0] | 0;
      Al = SHA512_IV2[1] | 0;
      Bh = SHA512_IV2[2] | 0;
      Bl = SHA512_IV2[3] | 0;
      Ch = SHA512_IV2[4] | 0;
      Cl = SHA512_IV2[5] | 0;
      Dh = SHA512_IV2[6] | 0;
      Dl = SHA512_IV2[7] | 0;
      Eh = SHA512_IV2[8] | 0;
      El = SHA512_IV2[9] | 0;
      Fh = SHA512_IV2[10] | 0;
      Fl = SHA512_IV2[11] | 0;
      Gh = SHA512_IV2[12] | 0;
      Gl = SHA512_IV2[13] | 0;
      Hh = SHA512_IV2[14] | 0;
      Hl = SHA512_IV2[15] | 0;
      constructor() {
        super(64);
      }
    };
    _SHA384 = class extends SHA2_64B {
      Ah = SHA384_IV2[0] | 0;
      Al = SHA384_IV2[1] | 0;
      Bh = SHA384_IV2[2] | 0;
      Bl = SHA384_IV2[3] | 0;
      Ch = SHA384_IV2[4] | 0;
      Cl = SHA384_IV2[5] | 0;
      Dh = SHA384_IV2[6] | 0;
      Dl = SHA384_IV2[7] | 0;
      Eh = SHA384_IV2[8] | 0;
      El = SHA384_IV2[9] | 0;
      Fh = SHA384_IV2[10] | 0;
      Fl = SHA384_IV2[11] | 0;
      Gh = SHA384_IV2[12] | 0;
      Gl = SHA384_IV2[13] | 0;
      Hh = SHA384_IV2[14] | 0;
      Hl = SHA384_IV2[15] | 0;
      constructor() {
        super(48);
      }
    };
    sha2562 = /* @__PURE__ */ createHasher2(
      () => new _SHA256(),
      /* @__PURE__ */ oidNist2(1)
    );
    sha5122 = /* @__PURE__ */ createHasher2(
      () => new _SHA512(),
      /* @__PURE__ */ oidNist2(3)
    );
    sha3842 = /* @__PURE__ */ createHasher2(
      () => new _SHA384(),
      /* @__PURE__ */ oidNist2(2)
    );
  }
});

// ../typescript/node_modules/@noble/curves/utils.js
function abool2(value, title = "") {
  if (typeof value !== "boolean") {
    const prefix = title && `"${title}" `;
    throw new Error(prefix + "expected boolean, got type=" + typeof value);
  }
  return value;
}
function abignumber(n) {
  if (typeof n === "bigint") {
    if (!isPosBig(n))
      throw new Error("positive bigint expected, got " + n);
  } else
    anumber3(n);
  return n;
}
function asafenumber(value, title = "") {
  if (!Number.isSafeInteger(value)) {
    const prefix = title && `"${title}" `;
    throw new Error(prefix + "expected safe integer, got type=" + typeof value);
  }
}
function numberToHexUnpadded(num) {
  const hex = abignumber(num).toString(16);
  return hex.length & 1 ? "0" + hex : hex;
}
function hexToNumber3(hex) {
  if (typeof hex !== "string")
    throw new Error("hex string expected, got " + typeof hex);
  return hex === "" ? _0n2 : BigInt("0x" + hex);
}
function bytesToNumberBE(bytes) {
  return hexToNumber3(bytesToHex2(bytes));
}
function bytesToNumberLE2(bytes) {
  return hexToNumber3(bytesToHex2(copyBytes3(abytes3(bytes)).reverse()));
}
function numberToBytesBE2(n, len) {
  anumber3(len);
  n = abignumber(n);
  const res = hexToBytes2(n.toString(16).padStart(len * 2, "0"));
  if (res.length !== len)
    throw new Error("number too large");
  return res;
}
function numberToBytesLE2(n, len) {
  return numberToBytesBE2(n, len).reverse();
}
function equalBytes2(a, b) {
  if (a.length !== b.length)
    return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++)
    diff |= a[i] ^ b[i];
  return diff === 0;
}
function copyBytes3(bytes) {
  return Uint8Array.from(bytes);
}
function asciiToBytes(ascii) {
  return Uint8Array.from(ascii, (c, i) => {
    const charCode = c.charCodeAt(0);
    if (c.length !== 1 || charCode > 127) {
      throw new Error(`string contains non-ASCII character "${ascii[i]}" with code ${charCode} at position ${i}`);
    }
    return charCode;
  });
}
function inRange(n, min, max) {
  return isPosBig(n) && isPosBig(min) && isPosBig(max) && min <= n && n < max;
}
function aInRange2(title, n, min, max) {
  if (!inRange(n, min, max))
    throw new Error("expected valid " + title + ": " + min + " <= n < " + max + ", got " + n);
}
function bitLen(n) {
  let len;
  for (len = 0; n > _0n2; n >>= _1n2, len += 1)
    ;
  return len;
}
function createHmacDrbg(hashLen, qByteLen, hmacFn) {
  anumber3(hashLen, "hashLen");
  anumber3(qByteLen, "qByteLen");
  if (typeof hmacFn !== "function")
    throw new Error("hmacFn must be a function");
  const u8n = (len) => new Uint8Array(len);
  const NULL = Uint8Array.of();
  const byte0 = Uint8Array.of(0);
  const byte1 = Uint8Array.of(1);
  const _maxDrbgIters = 1e3;
  let v = u8n(hashLen);
  let k = u8n(hashLen);
  let i = 0;
  const reset = () => {
    v.fill(1);
    k.fill(0);
    i = 0;
  };
  const h2 = (...msgs) => hmacFn(k, concatBytes2(v, ...msgs));
  const reseed = (seed = NULL) => {
    k = h2(byte0, seed);
    v = h2();
    if (seed.length === 0)
      return;
    k = h2(byte1, seed);
    v = h2();
  };
  const gen = () => {
    if (i++ >= _maxDrbgIters)
      throw new Error("drbg: tried max amount of iterations");
    let len = 0;
    const out = [];
    while (len < qByteLen) {
      v = h2();
      const sl = v.slice();
      out.push(sl);
      len += v.length;
    }
    return concatBytes2(...out);
  };
  const genUntil = (seed, pred) => {
    reset();
    reseed(seed);
    let res = void 0;
    while (!(res = pred(gen())))
      reseed();
    reset();
    return res;
  };
  return genUntil;
}
function validateObject2(object, fields = {}, optFields = {}) {
  if (!object || typeof object !== "object")
    throw new Error("expected valid options object");
  function checkField(fieldName, expectedType, isOpt) {
    const val = object[fieldName];
    if (isOpt && val === void 0)
      return;
    const current = typeof val;
    if (current !== expectedType || val === null)
      throw new Error(`param "${fieldName}" is invalid: expected ${expectedType}, got ${current}`);
  }
  const iter = (f, isOpt) => Object.entries(f).forEach(([k, v]) => checkField(k, v, isOpt));
  iter(fields, false);
  iter(optFields, true);
}
function memoized(fn) {
  const map = /* @__PURE__ */ new WeakMap();
  return (arg, ...args) => {
    const val = map.get(arg);
    if (val !== void 0)
      return val;
    const computed = fn(arg, ...args);
    map.set(arg, computed);
    return computed;
  };
}
var _0n2, _1n2, isPosBig, bitMask, notImplemented;
var init_utils3 = __esm({
  "../typescript/node_modules/@noble/curves/utils.js"() {
    init_utils2();
    init_utils2();
    _0n2 = /* @__PURE__ */ BigInt(0);
    _1n2 = /* @__PURE__ */ BigInt(1);
    isPosBig = (n) => typeof n === "bigint" && _0n2 <= n;
    bitMask = (n) => (_1n2 << BigInt(n)) - _1n2;
    notImplemented = () => {
      throw new Error("not implemented");
    };
  }
});

// ../typescript/node_modules/@noble/curves/abstract/modular.js
function mod3(a, b) {
  const result = a % b;
  return result >= _0n3 ? result : b + result;
}
function pow22(x, power, modulo) {
  let res = x;
  while (power-- > _0n3) {
    res *= res;
    res %= modulo;
  }
  return res;
}
function invert(number, modulo) {
  if (number === _0n3)
    throw new Error("invert: expected non-zero number");
  if (modulo <= _0n3)
    throw new Error("invert: expected positive modulus, got " + modulo);
  let a = mod3(number, modulo);
  let b = modulo;
  let x = _0n3, y = _1n3, u = _1n3, v = _0n3;
  while (a !== _0n3) {
    const q = b / a;
    const r = b % a;
    const m = x - u * q;
    const n = y - v * q;
    b = a, a = r, x = u, y = v, u = m, v = n;
  }
  const gcd = b;
  if (gcd !== _1n3)
    throw new Error("invert: does not exist");
  return mod3(x, modulo);
}
function assertIsSquare(Fp3, root2, n) {
  if (!Fp3.eql(Fp3.sqr(root2), n))
    throw new Error("Cannot find square root");
}
function sqrt3mod4(Fp3, n) {
  const p1div4 = (Fp3.ORDER + _1n3) / _4n;
  const root2 = Fp3.pow(n, p1div4);
  assertIsSquare(Fp3, root2, n);
  return root2;
}
function sqrt5mod8(Fp3, n) {
  const p5div8 = (Fp3.ORDER - _5n) / _8n;
  const n2 = Fp3.mul(n, _2n2);
  const v = Fp3.pow(n2, p5div8);
  const nv = Fp3.mul(n, v);
  const i = Fp3.mul(Fp3.mul(nv, _2n2), v);
  const root2 = Fp3.mul(nv, Fp3.sub(i, Fp3.ONE));
  assertIsSquare(Fp3, root2, n);
  return root2;
}
function sqrt9mod16(P) {
  const Fp_ = Field(P);
  const tn = tonelliShanks(P);
  const c1 = tn(Fp_, Fp_.neg(Fp_.ONE));
  const c2 = tn(Fp_, c1);
  const c3 = tn(Fp_, Fp_.neg(c1));
  const c4 = (P + _7n2) / _16n;
  return (Fp3, n) => {
    let tv1 = Fp3.pow(n, c4);
    let tv2 = Fp3.mul(tv1, c1);
    const tv3 = Fp3.mul(tv1, c2);
    const tv4 = Fp3.mul(tv1, c3);
    const e1 = Fp3.eql(Fp3.sqr(tv2), n);
    const e2 = Fp3.eql(Fp3.sqr(tv3), n);
    tv1 = Fp3.cmov(tv1, tv2, e1);
    tv2 = Fp3.cmov(tv4, tv3, e2);
    const e3 = Fp3.eql(Fp3.sqr(tv2), n);
    const root2 = Fp3.cmov(tv1, tv2, e3);
    assertIsSquare(Fp3, root2, n);
    return root2;
  };
}
function tonelliShanks(P) {
  if (P < _3n)
    throw new Error("sqrt is not defined for small field");
  let Q = P - _1n3;
  let S = 0;
  while (Q % _2n2 === _0n3) {
    Q /= _2n2;
    S++;
  }
  let Z = _2n2;
  const _Fp = Field(P);
  while (FpLegendre(_Fp, Z) === 1) {
    if (Z++ > 1e3)
      throw new Error("Cannot find square root: probably non-prime P");
  }
  if (S === 1)
    return sqrt3mod4;
  let cc = _Fp.pow(Z, Q);
  const Q1div2 = (Q + _1n3) / _2n2;
  return function tonelliSlow(Fp3, n) {
    if (Fp3.is0(n))
      return n;
    if (FpLegendre(Fp3, n) !== 1)
      throw new Error("Cannot find square root");
    let M = S;
    let c = Fp3.mul(Fp3.ONE, cc);
    let t = Fp3.pow(n, Q);
    let R = Fp3.pow(n, Q1div2);
    while (!Fp3.eql(t, Fp3.ONE)) {
      if (Fp3.is0(t))
        return Fp3.ZERO;
      let i = 1;
      let t_tmp = Fp3.sqr(t);
      while (!Fp3.eql(t_tmp, Fp3.ONE)) {
        i++;
        t_tmp = Fp3.sqr(t_tmp);
        if (i === M)
          throw new Error("Cannot find square root");
      }
      const exponent = _1n3 << BigInt(M - i - 1);
      const b = Fp3.pow(c, exponent);
      M = i;
      c = Fp3.sqr(b);
      t = Fp3.mul(t, c);
      R = Fp3.mul(R, b);
    }
    return R;
  };
}
function FpSqrt(P) {
  if (P % _4n === _3n)
    return sqrt3mod4;
  if (P % _8n === _5n)
    return sqrt5mod8;
  if (P % _16n === _9n)
    return sqrt9mod16(P);
  return tonelliShanks(P);
}
function validateField(field) {
  const initial = {
    ORDER: "bigint",
    BYTES: "number",
    BITS: "number"
  };
  const opts = FIELD_FIELDS.reduce((map, val) => {
    map[val] = "function";
    return map;
  }, initial);
  validateObject2(field, opts);
  return field;
}
function FpPow(Fp3, num, power) {
  if (power < _0n3)
    throw new Error("invalid exponent, negatives unsupported");
  if (power === _0n3)
    return Fp3.ONE;
  if (power === _1n3)
    return num;
  let p = Fp3.ONE;
  let d = num;
  while (power > _0n3) {
    if (power & _1n3)
      p = Fp3.mul(p, d);
    d = Fp3.sqr(d);
    power >>= _1n3;
  }
  return p;
}
function FpInvertBatch(Fp3, nums, passZero = false) {
  const inverted = new Array(nums.length).fill(passZero ? Fp3.ZERO : void 0);
  const multipliedAcc = nums.reduce((acc, num, i) => {
    if (Fp3.is0(num))
      return acc;
    inverted[i] = acc;
    return Fp3.mul(acc, num);
  }, Fp3.ONE);
  const invertedAcc = Fp3.inv(multipliedAcc);
  nums.reduceRight((acc, num, i) => {
    if (Fp3.is0(num))
      return acc;
    inverted[i] = Fp3.mul(acc, inverted[i]);
    return Fp3.mul(acc, num);
  }, invertedAcc);
  return inverted;
}
function FpLegendre(Fp3, n) {
  const p1mod2 = (Fp3.ORDER - _1n3) / _2n2;
  const powered = Fp3.pow(n, p1mod2);
  const yes = Fp3.eql(powered, Fp3.ONE);
  const zero = Fp3.eql(powered, Fp3.ZERO);
  const no = Fp3.eql(powered, Fp3.neg(Fp3.ONE));
  if (!yes && !zero && !no)
    throw new Error("invalid Legendre symbol result");
  return yes ? 1 : zero ? 0 : -1;
}
function nLength(n, nBitLength) {
  if (nBitLength !== void 0)
    anumber3(nBitLength);
  const _nBitLength = nBitLength !== void 0 ? nBitLength : n.toString(2).length;
  const nByteLength = Math.ceil(_nBitLength / 8);
  return { nBitLength: _nBitLength, nByteLength };
}
function Field(ORDER, opts = {}) {
  return new _Field(ORDER, opts);
}
function FpSqrtEven(Fp3, elm) {
  if (!Fp3.isOdd)
    throw new Error("Field doesn't have isOdd");
  const root2 = Fp3.sqrt(elm);
  return Fp3.isOdd(root2) ? Fp3.neg(root2) : root2;
}
function getFieldBytesLength(fieldOrder) {
  if (typeof fieldOrder !== "bigint")
    throw new Error("field order must be bigint");
  const bitLength = fieldOrder.toString(2).length;
  return Math.ceil(bitLength / 8);
}
function getMinHashLength(fieldOrder) {
  const length = getFieldBytesLength(fieldOrder);
  return length + Math.ceil(length / 2);
}
function mapHashToField(key, fieldOrder, isLE4 = false) {
  abytes3(key);
  const len = key.length;
  const fieldLen = getFieldBytesLength(fieldOrder);
  const minLen = getMinHashLength(fieldOrder);
  if (len < 16 || len < minLen || len > 1024)
    throw new Error("expected " + minLen + "-1024 bytes of input, got " + len);
  const num = isLE4 ? bytesToNumberLE2(key) : bytesToNumberBE(key);
  const reduced = mod3(num, fieldOrder - _1n3) + _1n3;
  return isLE4 ? numberToBytesLE2(reduced, fieldLen) : numberToBytesBE2(reduced, fieldLen);
}
var _0n3, _1n3, _2n2, _3n, _4n, _5n, _7n2, _8n, _9n, _16n, isNegativeLE, FIELD_FIELDS, _Field;
var init_modular = __esm({
  "../typescript/node_modules/@noble/curves/abstract/modular.js"() {
    init_utils3();
    _0n3 = /* @__PURE__ */ BigInt(0);
    _1n3 = /* @__PURE__ */ BigInt(1);
    _2n2 = /* @__PURE__ */ BigInt(2);
    _3n = /* @__PURE__ */ BigInt(3);
    _4n = /* @__PURE__ */ BigInt(4);
    _5n = /* @__PURE__ */ BigInt(5);
    _7n2 = /* @__PURE__ */ BigInt(7);
    _8n = /* @__PURE__ */ BigInt(8);
    _9n = /* @__PURE__ */ BigInt(9);
    _16n = /* @__PURE__ */ BigInt(16);
    isNegativeLE = (num, modulo) => (mod3(num, modulo) & _1n3) === _1n3;
    FIELD_FIELDS = [
      "create",
      "isValid",
      "is0",
      "neg",
      "inv",
      "sqrt",
      "sqr",
      "eql",
      "add",
      "sub",
      "mul",
      "pow",
      "div",
      "addN",
      "subN",
      "mulN",
      "sqrN"
    ];
    _Field = class {
      ORDER;
      BITS;
      BYTES;
      isLE;
      ZERO = _0n3;
      ONE = _1n3;
      _lengths;
      _sqrt;
      // cached sqrt
      _mod;
      constructor(ORDER, opts = {}) {
        if (ORDER <= _0n3)
          throw new Error("invalid field: expected ORDER > 0, got " + ORDER);
        let _nbitLength = void 0;
        this.isLE = false;
        if (opts != null && typeof opts === "object") {
          if (typeof opts.BITS === "number")
            _nbitLength = opts.BITS;
          if (typeof opts.sqrt === "function")
            this.sqrt = opts.sqrt;
          if (typeof opts.isLE === "boolean")
            this.isLE = opts.isLE;
          if (opts.allowedLengths)
            this._lengths = opts.allowedLengths?.slice();
          if (typeof opts.modFromBytes === "boolean")
            this._mod = opts.modFromBytes;
        }
        const { nBitLength, nByteLength } = nLength(ORDER, _nbitLength);
        if (nByteLength > 2048)
          throw new Error("invalid field: expected ORDER of <= 2048 bytes");
        this.ORDER = ORDER;
        this.BITS = nBitLength;
        this.BYTES = nByteLength;
        this._sqrt = void 0;
        Object.preventExtensions(this);
      }
      create(num) {
        return mod3(num, this.ORDER);
      }
      isValid(num) {
        if (typeof num !== "bigint")
          throw new Error("invalid field element: expected bigint, got " + typeof num);
        return _0n3 <= num && num < this.ORDER;
      }
      is0(num) {
        return num === _0n3;
      }
      // is valid and invertible
      isValidNot0(num) {
        return !this.is0(num) && this.isValid(num);
      }
      isOdd(num) {
        return (num & _1n3) === _1n3;
      }
      neg(num) {
        return mod3(-num, this.ORDER);
      }
      eql(lhs, rhs) {
        return lhs === rhs;
      }
      sqr(num) {
        return mod3(num * num, this.ORDER);
      }
      add(lhs, rhs) {
        return mod3(lhs + rhs, this.ORDER);
      }
      sub(lhs, rhs) {
        return mod3(lhs - rhs, this.ORDER);
      }
      mul(lhs, rhs) {
        return mod3(lhs * rhs, this.ORDER);
      }
      pow(num, power) {
        return FpPow(this, num, power);
      }
      div(lhs, rhs) {
        return mod3(lhs * invert(rhs, this.ORDER), this.ORDER);
      }
      // Same as above, but doesn't normalize
      sqrN(num) {
        return num * num;
      }
      addN(lhs, rhs) {
        return lhs + rhs;
      }
      subN(lhs, rhs) {
        return lhs - rhs;
      }
      mulN(lhs, rhs) {
        return lhs * rhs;
      }
      inv(num) {
        return invert(num, this.ORDER);
      }
      sqrt(num) {
        if (!this._sqrt)
          this._sqrt = FpSqrt(this.ORDER);
        return this._sqrt(this, num);
      }
      toBytes(num) {
        return this.isLE ? numberToBytesLE2(num, this.BYTES) : numberToBytesBE2(num, this.BYTES);
      }
      fromBytes(bytes, skipValidation = false) {
        abytes3(bytes);
        const { _lengths: allowedLengths, BYTES, isLE: isLE4, ORDER, _mod: modFromBytes } = this;
        if (allowedLengths) {
          if (!allowedLengths.includes(bytes.length) || bytes.length > BYTES) {
            throw new Error("Field.fromBytes: expected " + allowedLengths + " bytes, got " + bytes.length);
          }
          const padded = new Uint8Array(BYTES);
          padded.set(bytes, isLE4 ? 0 : padded.length - bytes.length);
          bytes = padded;
        }
        if (bytes.length !== BYTES)
          throw new Error("Field.fromBytes: expected " + BYTES + " bytes, got " + bytes.length);
        let scalar = isLE4 ? bytesToNumberLE2(bytes) : bytesToNumberBE(bytes);
        if (modFromBytes)
          scalar = mod3(scalar, ORDER);
        if (!skipValidation) {
          if (!this.isValid(scalar))
            throw new Error("invalid field element: outside of range 0..ORDER");
        }
        return scalar;
      }
      // TODO: we don't need it here, move out to separate fn
      invertBatch(lst) {
        return FpInvertBatch(this, lst);
      }
      // We can't move this out because Fp6, Fp12 implement it
      // and it's unclear what to return in there.
      cmov(a, b, condition) {
        return condition ? b : a;
      }
    };
  }
});

// ../typescript/node_modules/@noble/curves/abstract/curve.js
function negateCt(condition, item) {
  const neg = item.negate();
  return condition ? neg : item;
}
function normalizeZ(c, points) {
  const invertedZs = FpInvertBatch(c.Fp, points.map((p) => p.Z));
  return points.map((p, i) => c.fromAffine(p.toAffine(invertedZs[i])));
}
function validateW(W, bits) {
  if (!Number.isSafeInteger(W) || W <= 0 || W > bits)
    throw new Error("invalid window size, expected [1.." + bits + "], got W=" + W);
}
function calcWOpts(W, scalarBits) {
  validateW(W, scalarBits);
  const windows = Math.ceil(scalarBits / W) + 1;
  const windowSize = 2 ** (W - 1);
  const maxNumber = 2 ** W;
  const mask = bitMask(W);
  const shiftBy = BigInt(W);
  return { windows, windowSize, mask, maxNumber, shiftBy };
}
function calcOffsets(n, window2, wOpts) {
  const { windowSize, mask, maxNumber, shiftBy } = wOpts;
  let wbits = Number(n & mask);
  let nextN = n >> shiftBy;
  if (wbits > windowSize) {
    wbits -= maxNumber;
    nextN += _1n4;
  }
  const offsetStart = window2 * windowSize;
  const offset = offsetStart + Math.abs(wbits) - 1;
  const isZero = wbits === 0;
  const isNeg = wbits < 0;
  const isNegF = window2 % 2 !== 0;
  const offsetF = offsetStart;
  return { nextN, offset, isZero, isNeg, isNegF, offsetF };
}
function validateMSMPoints(points, c) {
  if (!Array.isArray(points))
    throw new Error("array expected");
  points.forEach((p, i) => {
    if (!(p instanceof c))
      throw new Error("invalid point at index " + i);
  });
}
function validateMSMScalars(scalars, field) {
  if (!Array.isArray(scalars))
    throw new Error("array of scalars expected");
  scalars.forEach((s, i) => {
    if (!field.isValid(s))
      throw new Error("invalid scalar at index " + i);
  });
}
function getW(P) {
  return pointWindowSizes.get(P) || 1;
}
function assert0(n) {
  if (n !== _0n4)
    throw new Error("invalid wNAF");
}
function mulEndoUnsafe(Point, point, k1, k2) {
  let acc = point;
  let p1 = Point.ZERO;
  let p2 = Point.ZERO;
  while (k1 > _0n4 || k2 > _0n4) {
    if (k1 & _1n4)
      p1 = p1.add(acc);
    if (k2 & _1n4)
      p2 = p2.add(acc);
    acc = acc.double();
    k1 >>= _1n4;
    k2 >>= _1n4;
  }
  return { p1, p2 };
}
function pippenger(c, points, scalars) {
  const fieldN = c.Fn;
  validateMSMPoints(points, c);
  validateMSMScalars(scalars, fieldN);
  const plength = points.length;
  const slength = scalars.length;
  if (plength !== slength)
    throw new Error("arrays of points and scalars must have equal length");
  const zero = c.ZERO;
  const wbits = bitLen(BigInt(plength));
  let windowSize = 1;
  if (wbits > 12)
    windowSize = wbits - 3;
  else if (wbits > 4)
    windowSize = wbits - 2;
  else if (wbits > 0)
    windowSize = 2;
  const MASK = bitMask(windowSize);
  const buckets = new Array(Number(MASK) + 1).fill(zero);
  const lastBits = Math.floor((fieldN.BITS - 1) / windowSize) * windowSize;
  let sum = zero;
  for (let i = lastBits; i >= 0; i -= windowSize) {
    buckets.fill(zero);
    for (let j = 0; j < slength; j++) {
      const scalar = scalars[j];
      const wbits2 = Number(scalar >> BigInt(i) & MASK);
      buckets[wbits2] = buckets[wbits2].add(points[j]);
    }
    let resI = zero;
    for (let j = buckets.length - 1, sumI = zero; j > 0; j--) {
      sumI = sumI.add(buckets[j]);
      resI = resI.add(sumI);
    }
    sum = sum.add(resI);
    if (i !== 0)
      for (let j = 0; j < windowSize; j++)
        sum = sum.double();
  }
  return sum;
}
function createField(order, field, isLE4) {
  if (field) {
    if (field.ORDER !== order)
      throw new Error("Field.ORDER must match order: Fp == p, Fn == n");
    validateField(field);
    return field;
  } else {
    return Field(order, { isLE: isLE4 });
  }
}
function createCurveFields(type, CURVE, curveOpts = {}, FpFnLE) {
  if (FpFnLE === void 0)
    FpFnLE = type === "edwards";
  if (!CURVE || typeof CURVE !== "object")
    throw new Error(`expected valid ${type} CURVE object`);
  for (const p of ["p", "n", "h"]) {
    const val = CURVE[p];
    if (!(typeof val === "bigint" && val > _0n4))
      throw new Error(`CURVE.${p} must be positive bigint`);
  }
  const Fp3 = createField(CURVE.p, curveOpts.Fp, FpFnLE);
  const Fn3 = createField(CURVE.n, curveOpts.Fn, FpFnLE);
  const _b = type === "weierstrass" ? "b" : "d";
  const params = ["Gx", "Gy", "a", _b];
  for (const p of params) {
    if (!Fp3.isValid(CURVE[p]))
      throw new Error(`CURVE.${p} must be valid field element of CURVE.Fp`);
  }
  CURVE = Object.freeze(Object.assign({}, CURVE));
  return { CURVE, Fp: Fp3, Fn: Fn3 };
}
function createKeygen2(randomSecretKey, getPublicKey) {
  return function keygen(seed) {
    const secretKey = randomSecretKey(seed);
    return { secretKey, publicKey: getPublicKey(secretKey) };
  };
}
var _0n4, _1n4, pointPrecomputes, pointWindowSizes, wNAF;
var init_curve = __esm({
  "../typescript/node_modules/@noble/curves/abstract/curve.js"() {
    init_utils3();
    init_modular();
    _0n4 = /* @__PURE__ */ BigInt(0);
    _1n4 = /* @__PURE__ */ BigInt(1);
    pointPrecomputes = /* @__PURE__ */ new WeakMap();
    pointWindowSizes = /* @__PURE__ */ new WeakMap();
    wNAF = class {
      BASE;
      ZERO;
      Fn;
      bits;
      // Parametrized with a given Point class (not individual point)
      constructor(Point, bits) {
        this.BASE = Point.BASE;
        this.ZERO = Point.ZERO;
        this.Fn = Point.Fn;
        this.bits = bits;
      }
      // non-const time multiplication ladder
      _unsafeLadder(elm, n, p = this.ZERO) {
        let d = elm;
        while (n > _0n4) {
          if (n & _1n4)
            p = p.add(d);
          d = d.double();
          n >>= _1n4;
        }
        return p;
      }
      /**
       * Creates a wNAF precomputation window. Used for caching.
       * Default window size is set by `utils.precompute()` and is equal to 8.
       * Number of precomputed points depends on the curve size:
       * 2^(𝑊−1) * (Math.ceil(𝑛 / 𝑊) + 1), where:
       * - 𝑊 is the window size
       * - 𝑛 is the bitlength of the curve order.
       * For a 256-bit curve and window size 8, the number of precomputed points is 128 * 33 = 4224.
       * @param point Point instance
       * @param W window size
       * @returns precomputed point tables flattened to a single array
       */
      precomputeWindow(point, W) {
        const { windows, windowSize } = calcWOpts(W, this.bits);
        const points = [];
        let p = point;
        let base = p;
        for (let window2 = 0; window2 < windows; window2++) {
          base = p;
          points.push(base);
          for (let i = 1; i < windowSize; i++) {
            base = base.add(p);
            points.push(base);
          }
          p = base.double();
        }
        return points;
      }
      /**
       * Implements ec multiplication using precomputed tables and w-ary non-adjacent form.
       * More compact implementation:
       * https://github.com/paulmillr/noble-secp256k1/blob/47cb1669b6e506ad66b35fe7d76132ae97465da2/index.ts#L502-L541
       * @returns real and fake (for const-time) points
       */
      wNAF(W, precomputes, n) {
        if (!this.Fn.isValid(n))
          throw new Error("invalid scalar");
        let p = this.ZERO;
        let f = this.BASE;
        const wo = calcWOpts(W, this.bits);
        for (let window2 = 0; window2 < wo.windows; window2++) {
          const { nextN, offset, isZero, isNeg, isNegF, offsetF } = calcOffsets(n, window2, wo);
          n = nextN;
          if (isZero) {
            f = f.add(negateCt(isNegF, precomputes[offsetF]));
          } else {
            p = p.add(negateCt(isNeg, precomputes[offset]));
          }
        }
        assert0(n);
        return { p, f };
      }
      /**
       * Implements ec unsafe (non const-time) multiplication using precomputed tables and w-ary non-adjacent form.
       * @param acc accumulator point to add result of multiplication
       * @returns point
       */
      wNAFUnsafe(W, precomputes, n, acc = this.ZERO) {
        const wo = calcWOpts(W, this.bits);
        for (let window2 = 0; window2 < wo.windows; window2++) {
          if (n === _0n4)
            break;
          const { nextN, offset, isZero, isNeg } = calcOffsets(n, window2, wo);
          n = nextN;
          if (isZero) {
            continue;
          } else {
            const item = precomputes[offset];
            acc = acc.add(isNeg ? item.negate() : item);
          }
        }
        assert0(n);
        return acc;
      }
      getPrecomputes(W, point, transform) {
        let comp = pointPrecomputes.get(point);
        if (!comp) {
          comp = this.precomputeWindow(point, W);
          if (W !== 1) {
            if (typeof transform === "function")
              comp = transform(comp);
            pointPrecomputes.set(point, comp);
          }
        }
        return comp;
      }
      cached(point, scalar, transform) {
        const W = getW(point);
        return this.wNAF(W, this.getPrecomputes(W, point, transform), scalar);
      }
      unsafe(point, scalar, transform, prev) {
        const W = getW(point);
        if (W === 1)
          return this._unsafeLadder(point, scalar, prev);
        return this.wNAFUnsafe(W, this.getPrecomputes(W, point, transform), scalar, prev);
      }
      // We calculate precomputes for elliptic curve point multiplication
      // using windowed method. This specifies window size and
      // stores precomputed values. Usually only base point would be precomputed.
      createCache(P, W) {
        validateW(W, this.bits);
        pointWindowSizes.set(P, W);
        pointPrecomputes.delete(P);
      }
      hasCache(elm) {
        return getW(elm) !== 1;
      }
    };
  }
});

// ../typescript/node_modules/@noble/curves/abstract/edwards.js
function isEdValidXY(Fp3, CURVE, x, y) {
  const x2 = Fp3.sqr(x);
  const y2 = Fp3.sqr(y);
  const left2 = Fp3.add(Fp3.mul(CURVE.a, x2), y2);
  const right2 = Fp3.add(Fp3.ONE, Fp3.mul(CURVE.d, Fp3.mul(x2, y2)));
  return Fp3.eql(left2, right2);
}
function edwards(params, extraOpts = {}) {
  const validated = createCurveFields("edwards", params, extraOpts, extraOpts.FpFnLE);
  const { Fp: Fp3, Fn: Fn3 } = validated;
  let CURVE = validated.CURVE;
  const { h: cofactor } = CURVE;
  validateObject2(extraOpts, {}, { uvRatio: "function" });
  const MASK = _2n3 << BigInt(Fn3.BYTES * 8) - _1n5;
  const modP = (n) => Fp3.create(n);
  const uvRatio3 = extraOpts.uvRatio || ((u, v) => {
    try {
      return { isValid: true, value: Fp3.sqrt(Fp3.div(u, v)) };
    } catch (e) {
      return { isValid: false, value: _0n5 };
    }
  });
  if (!isEdValidXY(Fp3, CURVE, CURVE.Gx, CURVE.Gy))
    throw new Error("bad curve params: generator point");
  function acoord(title, n, banZero = false) {
    const min = banZero ? _1n5 : _0n5;
    aInRange2("coordinate " + title, n, min, MASK);
    return n;
  }
  function aedpoint(other) {
    if (!(other instanceof Point))
      throw new Error("EdwardsPoint expected");
  }
  const toAffineMemo = memoized((p, iz) => {
    const { X, Y, Z } = p;
    const is0 = p.is0();
    if (iz == null)
      iz = is0 ? _8n2 : Fp3.inv(Z);
    const x = modP(X * iz);
    const y = modP(Y * iz);
    const zz = Fp3.mul(Z, iz);
    if (is0)
      return { x: _0n5, y: _1n5 };
    if (zz !== _1n5)
      throw new Error("invZ was invalid");
    return { x, y };
  });
  const assertValidMemo = memoized((p) => {
    const { a, d } = CURVE;
    if (p.is0())
      throw new Error("bad point: ZERO");
    const { X, Y, Z, T } = p;
    const X2 = modP(X * X);
    const Y2 = modP(Y * Y);
    const Z2 = modP(Z * Z);
    const Z4 = modP(Z2 * Z2);
    const aX2 = modP(X2 * a);
    const left2 = modP(Z2 * modP(aX2 + Y2));
    const right2 = modP(Z4 + modP(d * modP(X2 * Y2)));
    if (left2 !== right2)
      throw new Error("bad point: equation left != right (1)");
    const XY = modP(X * Y);
    const ZT = modP(Z * T);
    if (XY !== ZT)
      throw new Error("bad point: equation left != right (2)");
    return true;
  });
  class Point {
    // base / generator point
    static BASE = new Point(CURVE.Gx, CURVE.Gy, _1n5, modP(CURVE.Gx * CURVE.Gy));
    // zero / infinity / identity point
    static ZERO = new Point(_0n5, _1n5, _1n5, _0n5);
    // 0, 1, 1, 0
    // math field
    static Fp = Fp3;
    // scalar field
    static Fn = Fn3;
    X;
    Y;
    Z;
    T;
    constructor(X, Y, Z, T) {
      this.X = acoord("x", X);
      this.Y = acoord("y", Y);
      this.Z = acoord("z", Z, true);
      this.T = acoord("t", T);
      Object.freeze(this);
    }
    static CURVE() {
      return CURVE;
    }
    static fromAffine(p) {
      if (p instanceof Point)
        throw new Error("extended point not allowed");
      const { x, y } = p || {};
      acoord("x", x);
      acoord("y", y);
      return new Point(x, y, _1n5, modP(x * y));
    }
    // Uses algo from RFC8032 5.1.3.
    static fromBytes(bytes, zip215 = false) {
      const len = Fp3.BYTES;
      const { a, d } = CURVE;
      bytes = copyBytes3(abytes3(bytes, len, "point"));
      abool2(zip215, "zip215");
      const normed = copyBytes3(bytes);
      const lastByte = bytes[len - 1];
      normed[len - 1] = lastByte & ~128;
      const y = bytesToNumberLE2(normed);
      const max = zip215 ? MASK : Fp3.ORDER;
      aInRange2("point.y", y, _0n5, max);
      const y2 = modP(y * y);
      const u = modP(y2 - _1n5);
      const v = modP(d * y2 - a);
      let { isValid, value: x } = uvRatio3(u, v);
      if (!isValid)
        throw new Error("bad point: invalid y coordinate");
      const isXOdd = (x & _1n5) === _1n5;
      const isLastByteOdd = (lastByte & 128) !== 0;
      if (!zip215 && x === _0n5 && isLastByteOdd)
        throw new Error("bad point: x=0 and x_0=1");
      if (isLastByteOdd !== isXOdd)
        x = modP(-x);
      return Point.fromAffine({ x, y });
    }
    static fromHex(hex, zip215 = false) {
      return Point.fromBytes(hexToBytes2(hex), zip215);
    }
    get x() {
      return this.toAffine().x;
    }
    get y() {
      return this.toAffine().y;
    }
    precompute(windowSize = 8, isLazy = true) {
      wnaf.createCache(this, windowSize);
      if (!isLazy)
        this.multiply(_2n3);
      return this;
    }
    // Useful in fromAffine() - not for fromBytes(), which always created valid points.
    assertValidity() {
      assertValidMemo(this);
    }
    // Compare one point to another.
    equals(other) {
      aedpoint(other);
      const { X: X1, Y: Y1, Z: Z1 } = this;
      const { X: X2, Y: Y2, Z: Z2 } = other;
      const X1Z2 = modP(X1 * Z2);
      const X2Z1 = modP(X2 * Z1);
      const Y1Z2 = modP(Y1 * Z2);
      const Y2Z1 = modP(Y2 * Z1);
      return X1Z2 === X2Z1 && Y1Z2 === Y2Z1;
    }
    is0() {
      return this.equals(Point.ZERO);
    }
    negate() {
      return new Point(modP(-this.X), this.Y, this.Z, modP(-this.T));
    }
    // Fast algo for doubling Extended Point.
    // https://hyperelliptic.org/EFD/g1p/auto-twisted-extended.html#doubling-dbl-2008-hwcd
    // Cost: 4M + 4S + 1*a + 6add + 1*2.
    double() {
      const { a } = CURVE;
      const { X: X1, Y: Y1, Z: Z1 } = this;
      const A = modP(X1 * X1);
      const B = modP(Y1 * Y1);
      const C = modP(_2n3 * modP(Z1 * Z1));
      const D = modP(a * A);
      const x1y1 = X1 + Y1;
      const E = modP(modP(x1y1 * x1y1) - A - B);
      const G = D + B;
      const F = G - C;
      const H = D - B;
      const X3 = modP(E * F);
      const Y3 = modP(G * H);
      const T3 = modP(E * H);
      const Z3 = modP(F * G);
      return new Point(X3, Y3, Z3, T3);
    }
    // Fast algo for adding 2 Extended Points.
    // https://hyperelliptic.org/EFD/g1p/auto-twisted-extended.html#addition-add-2008-hwcd
    // Cost: 9M + 1*a + 1*d + 7add.
    add(other) {
      aedpoint(other);
      const { a, d } = CURVE;
      const { X: X1, Y: Y1, Z: Z1, T: T1 } = this;
      const { X: X2, Y: Y2, Z: Z2, T: T2 } = other;
      const A = modP(X1 * X2);
      const B = modP(Y1 * Y2);
      const C = modP(T1 * d * T2);
      const D = modP(Z1 * Z2);
      const E = modP((X1 + Y1) * (X2 + Y2) - A - B);
      const F = D - C;
      const G = D + C;
      const H = modP(B - a * A);
      const X3 = modP(E * F);
      const Y3 = modP(G * H);
      const T3 = modP(E * H);
      const Z3 = modP(F * G);
      return new Point(X3, Y3, Z3, T3);
    }
    subtract(other) {
      return this.add(other.negate());
    }
    // Constant-time multiplication.
    multiply(scalar) {
      if (!Fn3.isValidNot0(scalar))
        throw new Error("invalid scalar: expected 1 <= sc < curve.n");
      const { p, f } = wnaf.cached(this, scalar, (p2) => normalizeZ(Point, p2));
      return normalizeZ(Point, [p, f])[0];
    }
    // Non-constant-time multiplication. Uses double-and-add algorithm.
    // It's faster, but should only be used when you don't care about
    // an exposed private key e.g. sig verification.
    // Does NOT allow scalars higher than CURVE.n.
    // Accepts optional accumulator to merge with multiply (important for sparse scalars)
    multiplyUnsafe(scalar, acc = Point.ZERO) {
      if (!Fn3.isValid(scalar))
        throw new Error("invalid scalar: expected 0 <= sc < curve.n");
      if (scalar === _0n5)
        return Point.ZERO;
      if (this.is0() || scalar === _1n5)
        return this;
      return wnaf.unsafe(this, scalar, (p) => normalizeZ(Point, p), acc);
    }
    // Checks if point is of small order.
    // If you add something to small order point, you will have "dirty"
    // point with torsion component.
    // Multiplies point by cofactor and checks if the result is 0.
    isSmallOrder() {
      return this.multiplyUnsafe(cofactor).is0();
    }
    // Multiplies point by curve order and checks if the result is 0.
    // Returns `false` is the point is dirty.
    isTorsionFree() {
      return wnaf.unsafe(this, CURVE.n).is0();
    }
    // Converts Extended point to default (x, y) coordinates.
    // Can accept precomputed Z^-1 - for example, from invertBatch.
    toAffine(invertedZ) {
      return toAffineMemo(this, invertedZ);
    }
    clearCofactor() {
      if (cofactor === _1n5)
        return this;
      return this.multiplyUnsafe(cofactor);
    }
    toBytes() {
      const { x, y } = this.toAffine();
      const bytes = Fp3.toBytes(y);
      bytes[bytes.length - 1] |= x & _1n5 ? 128 : 0;
      return bytes;
    }
    toHex() {
      return bytesToHex2(this.toBytes());
    }
    toString() {
      return `<Point ${this.is0() ? "ZERO" : this.toHex()}>`;
    }
  }
  const wnaf = new wNAF(Point, Fn3.BITS);
  Point.BASE.precompute(8);
  return Point;
}
function eddsa(Point, cHash, eddsaOpts = {}) {
  if (typeof cHash !== "function")
    throw new Error('"hash" function param is required');
  validateObject2(eddsaOpts, {}, {
    adjustScalarBytes: "function",
    randomBytes: "function",
    domain: "function",
    prehash: "function",
    mapToCurve: "function"
  });
  const { prehash } = eddsaOpts;
  const { BASE, Fp: Fp3, Fn: Fn3 } = Point;
  const randomBytes4 = eddsaOpts.randomBytes || randomBytes3;
  const adjustScalarBytes3 = eddsaOpts.adjustScalarBytes || ((bytes) => bytes);
  const domain = eddsaOpts.domain || ((data, ctx, phflag) => {
    abool2(phflag, "phflag");
    if (ctx.length || phflag)
      throw new Error("Contexts/pre-hash are not supported");
    return data;
  });
  function modN_LE(hash) {
    return Fn3.create(bytesToNumberLE2(hash));
  }
  function getPrivateScalar(key) {
    const len = lengths.secretKey;
    abytes3(key, lengths.secretKey, "secretKey");
    const hashed = abytes3(cHash(key), 2 * len, "hashedSecretKey");
    const head = adjustScalarBytes3(hashed.slice(0, len));
    const prefix = hashed.slice(len, 2 * len);
    const scalar = modN_LE(head);
    return { head, prefix, scalar };
  }
  function getExtendedPublicKey(secretKey) {
    const { head, prefix, scalar } = getPrivateScalar(secretKey);
    const point = BASE.multiply(scalar);
    const pointBytes = point.toBytes();
    return { head, prefix, scalar, point, pointBytes };
  }
  function getPublicKey(secretKey) {
    return getExtendedPublicKey(secretKey).pointBytes;
  }
  function hashDomainToScalar(context = Uint8Array.of(), ...msgs) {
    const msg = concatBytes2(...msgs);
    return modN_LE(cHash(domain(msg, abytes3(context, void 0, "context"), !!prehash)));
  }
  function sign(msg, secretKey, options = {}) {
    msg = abytes3(msg, void 0, "message");
    if (prehash)
      msg = prehash(msg);
    const { prefix, scalar, pointBytes } = getExtendedPublicKey(secretKey);
    const r = hashDomainToScalar(options.context, prefix, msg);
    const R = BASE.multiply(r).toBytes();
    const k = hashDomainToScalar(options.context, R, pointBytes, msg);
    const s = Fn3.create(r + k * scalar);
    if (!Fn3.isValid(s))
      throw new Error("sign failed: invalid s");
    const rs = concatBytes2(R, Fn3.toBytes(s));
    return abytes3(rs, lengths.signature, "result");
  }
  const verifyOpts = { zip215: true };
  function verify(sig, msg, publicKey, options = verifyOpts) {
    const { context, zip215 } = options;
    const len = lengths.signature;
    sig = abytes3(sig, len, "signature");
    msg = abytes3(msg, void 0, "message");
    publicKey = abytes3(publicKey, lengths.publicKey, "publicKey");
    if (zip215 !== void 0)
      abool2(zip215, "zip215");
    if (prehash)
      msg = prehash(msg);
    const mid = len / 2;
    const r = sig.subarray(0, mid);
    const s = bytesToNumberLE2(sig.subarray(mid, len));
    let A, R, SB;
    try {
      A = Point.fromBytes(publicKey, zip215);
      R = Point.fromBytes(r, zip215);
      SB = BASE.multiplyUnsafe(s);
    } catch (error) {
      return false;
    }
    if (!zip215 && A.isSmallOrder())
      return false;
    const k = hashDomainToScalar(context, R.toBytes(), A.toBytes(), msg);
    const RkA = R.add(A.multiplyUnsafe(k));
    return RkA.subtract(SB).clearCofactor().is0();
  }
  const _size = Fp3.BYTES;
  const lengths = {
    secretKey: _size,
    publicKey: _size,
    signature: 2 * _size,
    seed: _size
  };
  function randomSecretKey(seed = randomBytes4(lengths.seed)) {
    return abytes3(seed, lengths.seed, "seed");
  }
  function isValidSecretKey(key) {
    return isBytes3(key) && key.length === Fn3.BYTES;
  }
  function isValidPublicKey(key, zip215) {
    try {
      return !!Point.fromBytes(key, zip215);
    } catch (error) {
      return false;
    }
  }
  const utils = {
    getExtendedPublicKey,
    randomSecretKey,
    isValidSecretKey,
    isValidPublicKey,
    /**
     * Converts ed public key to x public key. Uses formula:
     * - ed25519:
     *   - `(u, v) = ((1+y)/(1-y), sqrt(-486664)*u/x)`
     *   - `(x, y) = (sqrt(-486664)*u/v, (u-1)/(u+1))`
     * - ed448:
     *   - `(u, v) = ((y-1)/(y+1), sqrt(156324)*u/x)`
     *   - `(x, y) = (sqrt(156324)*u/v, (1+u)/(1-u))`
     */
    toMontgomery(publicKey) {
      const { y } = Point.fromBytes(publicKey);
      const size = lengths.publicKey;
      const is25519 = size === 32;
      if (!is25519 && size !== 57)
        throw new Error("only defined for 25519 and 448");
      const u = is25519 ? Fp3.div(_1n5 + y, _1n5 - y) : Fp3.div(y - _1n5, y + _1n5);
      return Fp3.toBytes(u);
    },
    toMontgomerySecret(secretKey) {
      const size = lengths.secretKey;
      abytes3(secretKey, size);
      const hashed = cHash(secretKey.subarray(0, size));
      return adjustScalarBytes3(hashed).subarray(0, size);
    }
  };
  return Object.freeze({
    keygen: createKeygen2(randomSecretKey, getPublicKey),
    getPublicKey,
    sign,
    verify,
    utils,
    Point,
    lengths
  });
}
var _0n5, _1n5, _2n3, _8n2, PrimeEdwardsPoint;
var init_edwards = __esm({
  "../typescript/node_modules/@noble/curves/abstract/edwards.js"() {
    init_utils3();
    init_curve();
    _0n5 = BigInt(0);
    _1n5 = BigInt(1);
    _2n3 = BigInt(2);
    _8n2 = BigInt(8);
    PrimeEdwardsPoint = class {
      static BASE;
      static ZERO;
      static Fp;
      static Fn;
      ep;
      constructor(ep) {
        this.ep = ep;
      }
      // Static methods that must be implemented by subclasses
      static fromBytes(_bytes) {
        notImplemented();
      }
      static fromHex(_hex) {
        notImplemented();
      }
      get x() {
        return this.toAffine().x;
      }
      get y() {
        return this.toAffine().y;
      }
      // Common implementations
      clearCofactor() {
        return this;
      }
      assertValidity() {
        this.ep.assertValidity();
      }
      toAffine(invertedZ) {
        return this.ep.toAffine(invertedZ);
      }
      toHex() {
        return bytesToHex2(this.toBytes());
      }
      toString() {
        return this.toHex();
      }
      isTorsionFree() {
        return true;
      }
      isSmallOrder() {
        return false;
      }
      add(other) {
        this.assertSame(other);
        return this.init(this.ep.add(other.ep));
      }
      subtract(other) {
        this.assertSame(other);
        return this.init(this.ep.subtract(other.ep));
      }
      multiply(scalar) {
        return this.init(this.ep.multiply(scalar));
      }
      multiplyUnsafe(scalar) {
        return this.init(this.ep.multiplyUnsafe(scalar));
      }
      double() {
        return this.init(this.ep.double());
      }
      negate() {
        return this.init(this.ep.negate());
      }
      precompute(windowSize, isLazy) {
        return this.init(this.ep.precompute(windowSize, isLazy));
      }
    };
  }
});

// ../typescript/node_modules/@noble/curves/abstract/hash-to-curve.js
function i2osp(value, length) {
  asafenumber(value);
  asafenumber(length);
  if (value < 0 || value >= 1 << 8 * length)
    throw new Error("invalid I2OSP input: " + value);
  const res = Array.from({ length }).fill(0);
  for (let i = length - 1; i >= 0; i--) {
    res[i] = value & 255;
    value >>>= 8;
  }
  return new Uint8Array(res);
}
function strxor(a, b) {
  const arr = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) {
    arr[i] = a[i] ^ b[i];
  }
  return arr;
}
function normDST(DST) {
  if (!isBytes3(DST) && typeof DST !== "string")
    throw new Error("DST must be Uint8Array or ascii string");
  return typeof DST === "string" ? asciiToBytes(DST) : DST;
}
function expand_message_xmd(msg, DST, lenInBytes, H) {
  abytes3(msg);
  asafenumber(lenInBytes);
  DST = normDST(DST);
  if (DST.length > 255)
    DST = H(concatBytes2(asciiToBytes("H2C-OVERSIZE-DST-"), DST));
  const { outputLen: b_in_bytes, blockLen: r_in_bytes } = H;
  const ell = Math.ceil(lenInBytes / b_in_bytes);
  if (lenInBytes > 65535 || ell > 255)
    throw new Error("expand_message_xmd: invalid lenInBytes");
  const DST_prime = concatBytes2(DST, i2osp(DST.length, 1));
  const Z_pad = i2osp(0, r_in_bytes);
  const l_i_b_str = i2osp(lenInBytes, 2);
  const b = new Array(ell);
  const b_0 = H(concatBytes2(Z_pad, msg, l_i_b_str, i2osp(0, 1), DST_prime));
  b[0] = H(concatBytes2(b_0, i2osp(1, 1), DST_prime));
  for (let i = 1; i <= ell; i++) {
    const args = [strxor(b_0, b[i - 1]), i2osp(i + 1, 1), DST_prime];
    b[i] = H(concatBytes2(...args));
  }
  const pseudo_random_bytes = concatBytes2(...b);
  return pseudo_random_bytes.slice(0, lenInBytes);
}
function expand_message_xof(msg, DST, lenInBytes, k, H) {
  abytes3(msg);
  asafenumber(lenInBytes);
  DST = normDST(DST);
  if (DST.length > 255) {
    const dkLen = Math.ceil(2 * k / 8);
    DST = H.create({ dkLen }).update(asciiToBytes("H2C-OVERSIZE-DST-")).update(DST).digest();
  }
  if (lenInBytes > 65535 || DST.length > 255)
    throw new Error("expand_message_xof: invalid lenInBytes");
  return H.create({ dkLen: lenInBytes }).update(msg).update(i2osp(lenInBytes, 2)).update(DST).update(i2osp(DST.length, 1)).digest();
}
function hash_to_field(msg, count, options) {
  validateObject2(options, {
    p: "bigint",
    m: "number",
    k: "number",
    hash: "function"
  });
  const { p, k, m, hash, expand, DST } = options;
  asafenumber(hash.outputLen, "valid hash");
  abytes3(msg);
  asafenumber(count);
  const log2p = p.toString(2).length;
  const L = Math.ceil((log2p + k) / 8);
  const len_in_bytes = count * m * L;
  let prb;
  if (expand === "xmd") {
    prb = expand_message_xmd(msg, DST, len_in_bytes, hash);
  } else if (expand === "xof") {
    prb = expand_message_xof(msg, DST, len_in_bytes, k, hash);
  } else if (expand === "_internal_pass") {
    prb = msg;
  } else {
    throw new Error('expand must be "xmd" or "xof"');
  }
  const u = new Array(count);
  for (let i = 0; i < count; i++) {
    const e = new Array(m);
    for (let j = 0; j < m; j++) {
      const elm_offset = L * (j + i * m);
      const tv = prb.subarray(elm_offset, elm_offset + L);
      e[j] = mod3(os2ip(tv), p);
    }
    u[i] = e;
  }
  return u;
}
function createHasher3(Point, mapToCurve, defaults) {
  if (typeof mapToCurve !== "function")
    throw new Error("mapToCurve() must be defined");
  function map(num) {
    return Point.fromAffine(mapToCurve(num));
  }
  function clear(initial) {
    const P = initial.clearCofactor();
    if (P.equals(Point.ZERO))
      return Point.ZERO;
    P.assertValidity();
    return P;
  }
  return {
    defaults: Object.freeze(defaults),
    Point,
    hashToCurve(msg, options) {
      const opts = Object.assign({}, defaults, options);
      const u = hash_to_field(msg, 2, opts);
      const u0 = map(u[0]);
      const u1 = map(u[1]);
      return clear(u0.add(u1));
    },
    encodeToCurve(msg, options) {
      const optsDst = defaults.encodeDST ? { DST: defaults.encodeDST } : {};
      const opts = Object.assign({}, defaults, optsDst, options);
      const u = hash_to_field(msg, 1, opts);
      const u0 = map(u[0]);
      return clear(u0);
    },
    /** See {@link H2CHasher} */
    mapToCurve(scalars) {
      if (defaults.m === 1) {
        if (typeof scalars !== "bigint")
          throw new Error("expected bigint (m=1)");
        return clear(map([scalars]));
      }
      if (!Array.isArray(scalars))
        throw new Error("expected array of bigints");
      for (const i of scalars)
        if (typeof i !== "bigint")
          throw new Error("expected array of bigints");
      return clear(map(scalars));
    },
    // hash_to_scalar can produce 0: https://www.rfc-editor.org/errata/eid8393
    // RFC 9380, draft-irtf-cfrg-bbs-signatures-08
    hashToScalar(msg, options) {
      const N = Point.Fn.ORDER;
      const opts = Object.assign({}, defaults, { p: N, m: 1, DST: _DST_scalar }, options);
      return hash_to_field(msg, 1, opts)[0][0];
    }
  };
}
var os2ip, _DST_scalar;
var init_hash_to_curve = __esm({
  "../typescript/node_modules/@noble/curves/abstract/hash-to-curve.js"() {
    init_utils3();
    init_modular();
    os2ip = bytesToNumberBE;
    _DST_scalar = asciiToBytes("HashToScalar-");
  }
});

// ../typescript/node_modules/@noble/curves/abstract/montgomery.js
function validateOpts(curve) {
  validateObject2(curve, {
    adjustScalarBytes: "function",
    powPminus2: "function"
  });
  return Object.freeze({ ...curve });
}
function montgomery2(curveDef) {
  const CURVE = validateOpts(curveDef);
  const { P, type, adjustScalarBytes: adjustScalarBytes3, powPminus2, randomBytes: rand } = CURVE;
  const is25519 = type === "x25519";
  if (!is25519 && type !== "x448")
    throw new Error("invalid type");
  const randomBytes_ = rand || randomBytes3;
  const montgomeryBits = is25519 ? 255 : 448;
  const fieldLen = is25519 ? 32 : 56;
  const Gu = is25519 ? BigInt(9) : BigInt(5);
  const a24 = is25519 ? BigInt(121665) : BigInt(39081);
  const minScalar = is25519 ? _2n4 ** BigInt(254) : _2n4 ** BigInt(447);
  const maxAdded = is25519 ? BigInt(8) * _2n4 ** BigInt(251) - _1n6 : BigInt(4) * _2n4 ** BigInt(445) - _1n6;
  const maxScalar = minScalar + maxAdded + _1n6;
  const modP = (n) => mod3(n, P);
  const GuBytes = encodeU(Gu);
  function encodeU(u) {
    return numberToBytesLE2(modP(u), fieldLen);
  }
  function decodeU(u) {
    const _u = copyBytes3(abytes3(u, fieldLen, "uCoordinate"));
    if (is25519)
      _u[31] &= 127;
    return modP(bytesToNumberLE2(_u));
  }
  function decodeScalar(scalar) {
    return bytesToNumberLE2(adjustScalarBytes3(copyBytes3(abytes3(scalar, fieldLen, "scalar"))));
  }
  function scalarMult(scalar, u) {
    const pu = montgomeryLadder(decodeU(u), decodeScalar(scalar));
    if (pu === _0n6)
      throw new Error("invalid private or public key received");
    return encodeU(pu);
  }
  function scalarMultBase(scalar) {
    return scalarMult(scalar, GuBytes);
  }
  const getPublicKey = scalarMultBase;
  const getSharedSecret = scalarMult;
  function cswap(swap, x_2, x_3) {
    const dummy = modP(swap * (x_2 - x_3));
    x_2 = modP(x_2 - dummy);
    x_3 = modP(x_3 + dummy);
    return { x_2, x_3 };
  }
  function montgomeryLadder(u, scalar) {
    aInRange2("u", u, _0n6, P);
    aInRange2("scalar", scalar, minScalar, maxScalar);
    const k = scalar;
    const x_1 = u;
    let x_2 = _1n6;
    let z_2 = _0n6;
    let x_3 = u;
    let z_3 = _1n6;
    let swap = _0n6;
    for (let t = BigInt(montgomeryBits - 1); t >= _0n6; t--) {
      const k_t = k >> t & _1n6;
      swap ^= k_t;
      ({ x_2, x_3 } = cswap(swap, x_2, x_3));
      ({ x_2: z_2, x_3: z_3 } = cswap(swap, z_2, z_3));
      swap = k_t;
      const A = x_2 + z_2;
      const AA = modP(A * A);
      const B = x_2 - z_2;
      const BB = modP(B * B);
      const E = AA - BB;
      const C = x_3 + z_3;
      const D = x_3 - z_3;
      const DA = modP(D * A);
      const CB = modP(C * B);
      const dacb = DA + CB;
      const da_cb = DA - CB;
      x_3 = modP(dacb * dacb);
      z_3 = modP(x_1 * modP(da_cb * da_cb));
      x_2 = modP(AA * BB);
      z_2 = modP(E * (AA + modP(a24 * E)));
    }
    ({ x_2, x_3 } = cswap(swap, x_2, x_3));
    ({ x_2: z_2, x_3: z_3 } = cswap(swap, z_2, z_3));
    const z2 = powPminus2(z_2);
    return modP(x_2 * z2);
  }
  const lengths = {
    secretKey: fieldLen,
    publicKey: fieldLen,
    seed: fieldLen
  };
  const randomSecretKey = (seed = randomBytes_(fieldLen)) => {
    abytes3(seed, lengths.seed, "seed");
    return seed;
  };
  const utils = { randomSecretKey };
  return Object.freeze({
    keygen: createKeygen2(randomSecretKey, getPublicKey),
    getSharedSecret,
    getPublicKey,
    scalarMult,
    scalarMultBase,
    utils,
    GuBytes: GuBytes.slice(),
    lengths
  });
}
var _0n6, _1n6, _2n4;
var init_montgomery = __esm({
  "../typescript/node_modules/@noble/curves/abstract/montgomery.js"() {
    init_utils3();
    init_curve();
    init_modular();
    _0n6 = BigInt(0);
    _1n6 = BigInt(1);
    _2n4 = BigInt(2);
  }
});

// ../typescript/node_modules/@noble/curves/abstract/oprf.js
function createORPF(opts) {
  validateObject2(opts, {
    name: "string",
    hash: "function",
    hashToScalar: "function",
    hashToGroup: "function"
  });
  const { name, Point, hash } = opts;
  const { Fn: Fn3 } = Point;
  const hashToGroup = (msg, ctx) => opts.hashToGroup(msg, {
    DST: concatBytes2(asciiToBytes("HashToGroup-"), ctx)
  });
  const hashToScalarPrefixed = (msg, ctx) => opts.hashToScalar(msg, { DST: concatBytes2(_DST_scalar, ctx) });
  const randomScalar = (rng = randomBytes3) => {
    const t = mapHashToField(rng(getMinHashLength(Fn3.ORDER)), Fn3.ORDER, Fn3.isLE);
    return Fn3.isLE ? bytesToNumberLE2(t) : bytesToNumberBE(t);
  };
  const msm = (points, scalars) => pippenger(Point, points, scalars);
  const getCtx = (mode) => concatBytes2(asciiToBytes("OPRFV1-"), new Uint8Array([mode]), asciiToBytes("-" + name));
  const ctxOPRF = getCtx(0);
  const ctxVOPRF = getCtx(1);
  const ctxPOPRF = getCtx(2);
  function encode2(...args) {
    const res = [];
    for (const a of args) {
      if (typeof a === "number")
        res.push(numberToBytesBE2(a, 2));
      else if (typeof a === "string")
        res.push(asciiToBytes(a));
      else {
        abytes3(a);
        res.push(numberToBytesBE2(a.length, 2), a);
      }
    }
    return concatBytes2(...res);
  }
  const hashInput = (...bytes) => hash(encode2(...bytes, "Finalize"));
  function getTranscripts(B, C, D, ctx) {
    const Bm = B.toBytes();
    const seed = hash(encode2(Bm, concatBytes2(asciiToBytes("Seed-"), ctx)));
    const res = [];
    for (let i = 0; i < C.length; i++) {
      const Ci = C[i].toBytes();
      const Di = D[i].toBytes();
      const di = hashToScalarPrefixed(encode2(seed, i, Ci, Di, "Composite"), ctx);
      res.push(di);
    }
    return res;
  }
  function computeComposites(B, C, D, ctx) {
    const T = getTranscripts(B, C, D, ctx);
    const M = msm(C, T);
    const Z = msm(D, T);
    return { M, Z };
  }
  function computeCompositesFast(k, B, C, D, ctx) {
    const T = getTranscripts(B, C, D, ctx);
    const M = msm(C, T);
    const Z = M.multiply(k);
    return { M, Z };
  }
  function challengeTranscript(B, M, Z, t2, t3, ctx) {
    const [Bm, a0, a1, a2, a3] = [B, M, Z, t2, t3].map((i) => i.toBytes());
    return hashToScalarPrefixed(encode2(Bm, a0, a1, a2, a3, "Challenge"), ctx);
  }
  function generateProof(ctx, k, B, C, D, rng) {
    const { M, Z } = computeCompositesFast(k, B, C, D, ctx);
    const r = randomScalar(rng);
    const t2 = Point.BASE.multiply(r);
    const t3 = M.multiply(r);
    const c = challengeTranscript(B, M, Z, t2, t3, ctx);
    const s = Fn3.sub(r, Fn3.mul(c, k));
    return concatBytes2(...[c, s].map((i) => Fn3.toBytes(i)));
  }
  function verifyProof(ctx, B, C, D, proof) {
    abytes3(proof, 2 * Fn3.BYTES);
    const { M, Z } = computeComposites(B, C, D, ctx);
    const [c, s] = [proof.subarray(0, Fn3.BYTES), proof.subarray(Fn3.BYTES)].map((f) => Fn3.fromBytes(f));
    const t2 = Point.BASE.multiply(s).add(B.multiply(c));
    const t3 = M.multiply(s).add(Z.multiply(c));
    const expectedC = challengeTranscript(B, M, Z, t2, t3, ctx);
    if (!Fn3.eql(c, expectedC))
      throw new Error("proof verification failed");
  }
  function generateKeyPair() {
    const skS = randomScalar();
    const pkS = Point.BASE.multiply(skS);
    return { secretKey: Fn3.toBytes(skS), publicKey: pkS.toBytes() };
  }
  function deriveKeyPair(ctx, seed, info) {
    const dst = concatBytes2(asciiToBytes("DeriveKeyPair"), ctx);
    const msg = concatBytes2(seed, encode2(info), Uint8Array.of(0));
    for (let counter = 0; counter <= 255; counter++) {
      msg[msg.length - 1] = counter;
      const skS = opts.hashToScalar(msg, { DST: dst });
      if (Fn3.is0(skS))
        continue;
      return { secretKey: Fn3.toBytes(skS), publicKey: Point.BASE.multiply(skS).toBytes() };
    }
    throw new Error("Cannot derive key");
  }
  function blind(ctx, input, rng = randomBytes3) {
    const blind2 = randomScalar(rng);
    const inputPoint = hashToGroup(input, ctx);
    if (inputPoint.equals(Point.ZERO))
      throw new Error("Input point at infinity");
    const blinded = inputPoint.multiply(blind2);
    return { blind: Fn3.toBytes(blind2), blinded: blinded.toBytes() };
  }
  function evaluate(ctx, secretKey, input) {
    const skS = Fn3.fromBytes(secretKey);
    const inputPoint = hashToGroup(input, ctx);
    if (inputPoint.equals(Point.ZERO))
      throw new Error("Input point at infinity");
    const unblinded = inputPoint.multiply(skS).toBytes();
    return hashInput(input, unblinded);
  }
  const oprf = {
    generateKeyPair,
    deriveKeyPair: (seed, keyInfo) => deriveKeyPair(ctxOPRF, seed, keyInfo),
    blind: (input, rng = randomBytes3) => blind(ctxOPRF, input, rng),
    blindEvaluate(secretKey, blindedPoint) {
      const skS = Fn3.fromBytes(secretKey);
      const elm = Point.fromBytes(blindedPoint);
      return elm.multiply(skS).toBytes();
    },
    finalize(input, blindBytes, evaluatedBytes) {
      const blind2 = Fn3.fromBytes(blindBytes);
      const evalPoint = Point.fromBytes(evaluatedBytes);
      const unblinded = evalPoint.multiply(Fn3.inv(blind2)).toBytes();
      return hashInput(input, unblinded);
    },
    evaluate: (secretKey, input) => evaluate(ctxOPRF, secretKey, input)
  };
  const voprf = {
    generateKeyPair,
    deriveKeyPair: (seed, keyInfo) => deriveKeyPair(ctxVOPRF, seed, keyInfo),
    blind: (input, rng = randomBytes3) => blind(ctxVOPRF, input, rng),
    blindEvaluateBatch(secretKey, publicKey, blinded, rng = randomBytes3) {
      if (!Array.isArray(blinded))
        throw new Error("expected array");
      const skS = Fn3.fromBytes(secretKey);
      const pkS = Point.fromBytes(publicKey);
      const blindedPoints = blinded.map(Point.fromBytes);
      const evaluated = blindedPoints.map((i) => i.multiply(skS));
      const proof = generateProof(ctxVOPRF, skS, pkS, blindedPoints, evaluated, rng);
      return { evaluated: evaluated.map((i) => i.toBytes()), proof };
    },
    blindEvaluate(secretKey, publicKey, blinded, rng = randomBytes3) {
      const res = this.blindEvaluateBatch(secretKey, publicKey, [blinded], rng);
      return { evaluated: res.evaluated[0], proof: res.proof };
    },
    finalizeBatch(items, publicKey, proof) {
      if (!Array.isArray(items))
        throw new Error("expected array");
      const pkS = Point.fromBytes(publicKey);
      const blindedPoints = items.map((i) => i.blinded).map(Point.fromBytes);
      const evalPoints = items.map((i) => i.evaluated).map(Point.fromBytes);
      verifyProof(ctxVOPRF, pkS, blindedPoints, evalPoints, proof);
      return items.map((i) => oprf.finalize(i.input, i.blind, i.evaluated));
    },
    finalize(input, blind2, evaluated, blinded, publicKey, proof) {
      return this.finalizeBatch([{ input, blind: blind2, evaluated, blinded }], publicKey, proof)[0];
    },
    evaluate: (secretKey, input) => evaluate(ctxVOPRF, secretKey, input)
  };
  const poprf = (info) => {
    const m = hashToScalarPrefixed(encode2("Info", info), ctxPOPRF);
    const T = Point.BASE.multiply(m);
    return {
      generateKeyPair,
      deriveKeyPair: (seed, keyInfo) => deriveKeyPair(ctxPOPRF, seed, keyInfo),
      blind(input, publicKey, rng = randomBytes3) {
        const pkS = Point.fromBytes(publicKey);
        const tweakedKey = T.add(pkS);
        if (tweakedKey.equals(Point.ZERO))
          throw new Error("tweakedKey point at infinity");
        const blind2 = randomScalar(rng);
        const inputPoint = hashToGroup(input, ctxPOPRF);
        if (inputPoint.equals(Point.ZERO))
          throw new Error("Input point at infinity");
        const blindedPoint = inputPoint.multiply(blind2);
        return {
          blind: Fn3.toBytes(blind2),
          blinded: blindedPoint.toBytes(),
          tweakedKey: tweakedKey.toBytes()
        };
      },
      blindEvaluateBatch(secretKey, blinded, rng = randomBytes3) {
        if (!Array.isArray(blinded))
          throw new Error("expected array");
        const skS = Fn3.fromBytes(secretKey);
        const t = Fn3.add(skS, m);
        const invT = Fn3.inv(t);
        const blindedPoints = blinded.map(Point.fromBytes);
        const evalPoints = blindedPoints.map((i) => i.multiply(invT));
        const tweakedKey = Point.BASE.multiply(t);
        const proof = generateProof(ctxPOPRF, t, tweakedKey, evalPoints, blindedPoints, rng);
        return { evaluated: evalPoints.map((i) => i.toBytes()), proof };
      },
      blindEvaluate(secretKey, blinded, rng = randomBytes3) {
        const res = this.blindEvaluateBatch(secretKey, [blinded], rng);
        return { evaluated: res.evaluated[0], proof: res.proof };
      },
      finalizeBatch(items, proof, tweakedKey) {
        if (!Array.isArray(items))
          throw new Error("expected array");
        const evalPoints = items.map((i) => i.evaluated).map(Point.fromBytes);
        verifyProof(ctxPOPRF, Point.fromBytes(tweakedKey), evalPoints, items.map((i) => i.blinded).map(Point.fromBytes), proof);
        return items.map((i, j) => {
          const blind2 = Fn3.fromBytes(i.blind);
          const point = evalPoints[j].multiply(Fn3.inv(blind2)).toBytes();
          return hashInput(i.input, info, point);
        });
      },
      finalize(input, blind2, evaluated, blinded, proof, tweakedKey) {
        return this.finalizeBatch([{ input, blind: blind2, evaluated, blinded }], proof, tweakedKey)[0];
      },
      evaluate(secretKey, input) {
        const skS = Fn3.fromBytes(secretKey);
        const inputPoint = hashToGroup(input, ctxPOPRF);
        if (inputPoint.equals(Point.ZERO))
          throw new Error("Input point at infinity");
        const t = Fn3.add(skS, m);
        const invT = Fn3.inv(t);
        const unblinded = inputPoint.multiply(invT).toBytes();
        return hashInput(input, info, unblinded);
      }
    };
  };
  return Object.freeze({ name, oprf, voprf, poprf, __tests: { Fn: Fn3 } });
}
var init_oprf = __esm({
  "../typescript/node_modules/@noble/curves/abstract/oprf.js"() {
    init_utils3();
    init_curve();
    init_hash_to_curve();
    init_modular();
  }
});

// ../typescript/node_modules/@noble/curves/ed25519.js
var ed25519_exports = {};
__export(ed25519_exports, {
  ED25519_TORSION_SUBGROUP: () => ED25519_TORSION_SUBGROUP,
  _map_to_curve_elligator2_curve25519: () => _map_to_curve_elligator2_curve25519,
  ed25519: () => ed25519,
  ed25519_hasher: () => ed25519_hasher,
  ed25519ctx: () => ed25519ctx,
  ed25519ph: () => ed25519ph,
  ristretto255: () => ristretto255,
  ristretto255_hasher: () => ristretto255_hasher,
  ristretto255_oprf: () => ristretto255_oprf,
  x25519: () => x25519
});
function ed25519_pow_2_252_3(x) {
  const _10n = BigInt(10), _20n = BigInt(20), _40n = BigInt(40), _80n = BigInt(80);
  const P = ed25519_CURVE_p;
  const x2 = x * x % P;
  const b2 = x2 * x % P;
  const b4 = pow22(b2, _2n5, P) * b2 % P;
  const b5 = pow22(b4, _1n7, P) * x % P;
  const b10 = pow22(b5, _5n2, P) * b5 % P;
  const b20 = pow22(b10, _10n, P) * b10 % P;
  const b40 = pow22(b20, _20n, P) * b20 % P;
  const b80 = pow22(b40, _40n, P) * b40 % P;
  const b160 = pow22(b80, _80n, P) * b80 % P;
  const b240 = pow22(b160, _80n, P) * b80 % P;
  const b250 = pow22(b240, _10n, P) * b10 % P;
  const pow_p_5_8 = pow22(b250, _2n5, P) * x % P;
  return { pow_p_5_8, b2 };
}
function adjustScalarBytes(bytes) {
  bytes[0] &= 248;
  bytes[31] &= 127;
  bytes[31] |= 64;
  return bytes;
}
function uvRatio(u, v) {
  const P = ed25519_CURVE_p;
  const v3 = mod3(v * v * v, P);
  const v7 = mod3(v3 * v3 * v, P);
  const pow = ed25519_pow_2_252_3(u * v7).pow_p_5_8;
  let x = mod3(u * v3 * pow, P);
  const vx2 = mod3(v * x * x, P);
  const root1 = x;
  const root2 = mod3(x * ED25519_SQRT_M1, P);
  const useRoot1 = vx2 === u;
  const useRoot2 = vx2 === mod3(-u, P);
  const noRoot = vx2 === mod3(-u * ED25519_SQRT_M1, P);
  if (useRoot1)
    x = root1;
  if (useRoot2 || noRoot)
    x = root2;
  if (isNegativeLE(x, P))
    x = mod3(-x, P);
  return { isValid: useRoot1 || useRoot2, value: x };
}
function ed25519_domain(data, ctx, phflag) {
  if (ctx.length > 255)
    throw new Error("Context is too big");
  return concatBytes2(asciiToBytes("SigEd25519 no Ed25519 collisions"), new Uint8Array([phflag ? 1 : 0, ctx.length]), ctx, data);
}
function ed(opts) {
  return eddsa(ed25519_Point, sha5122, Object.assign({ adjustScalarBytes }, opts));
}
function _map_to_curve_elligator2_curve25519(u) {
  const ELL2_C4 = (ed25519_CURVE_p - _5n2) / _8n3;
  const ELL2_J2 = BigInt(486662);
  let tv1 = Fp.sqr(u);
  tv1 = Fp.mul(tv1, _2n5);
  let xd = Fp.add(tv1, Fp.ONE);
  let x1n = Fp.neg(ELL2_J2);
  let tv2 = Fp.sqr(xd);
  let gxd = Fp.mul(tv2, xd);
  let gx1 = Fp.mul(tv1, ELL2_J2);
  gx1 = Fp.mul(gx1, x1n);
  gx1 = Fp.add(gx1, tv2);
  gx1 = Fp.mul(gx1, x1n);
  let tv3 = Fp.sqr(gxd);
  tv2 = Fp.sqr(tv3);
  tv3 = Fp.mul(tv3, gxd);
  tv3 = Fp.mul(tv3, gx1);
  tv2 = Fp.mul(tv2, tv3);
  let y11 = Fp.pow(tv2, ELL2_C4);
  y11 = Fp.mul(y11, tv3);
  let y12 = Fp.mul(y11, ELL2_C3);
  tv2 = Fp.sqr(y11);
  tv2 = Fp.mul(tv2, gxd);
  let e1 = Fp.eql(tv2, gx1);
  let y1 = Fp.cmov(y12, y11, e1);
  let x2n = Fp.mul(x1n, tv1);
  let y21 = Fp.mul(y11, u);
  y21 = Fp.mul(y21, ELL2_C2);
  let y22 = Fp.mul(y21, ELL2_C3);
  let gx2 = Fp.mul(gx1, tv1);
  tv2 = Fp.sqr(y21);
  tv2 = Fp.mul(tv2, gxd);
  let e2 = Fp.eql(tv2, gx2);
  let y2 = Fp.cmov(y22, y21, e2);
  tv2 = Fp.sqr(y1);
  tv2 = Fp.mul(tv2, gxd);
  let e3 = Fp.eql(tv2, gx1);
  let xn = Fp.cmov(x2n, x1n, e3);
  let y = Fp.cmov(y2, y1, e3);
  let e4 = Fp.isOdd(y);
  y = Fp.cmov(y, Fp.neg(y), e3 !== e4);
  return { xMn: xn, xMd: xd, yMn: y, yMd: _1n7 };
}
function map_to_curve_elligator2_edwards25519(u) {
  const { xMn, xMd, yMn, yMd } = _map_to_curve_elligator2_curve25519(u);
  let xn = Fp.mul(xMn, yMd);
  xn = Fp.mul(xn, ELL2_C1_EDWARDS);
  let xd = Fp.mul(xMd, yMn);
  let yn = Fp.sub(xMn, xMd);
  let yd = Fp.add(xMn, xMd);
  let tv1 = Fp.mul(xd, yd);
  let e = Fp.eql(tv1, Fp.ZERO);
  xn = Fp.cmov(xn, Fp.ZERO, e);
  xd = Fp.cmov(xd, Fp.ONE, e);
  yn = Fp.cmov(yn, Fp.ONE, e);
  yd = Fp.cmov(yd, Fp.ONE, e);
  const [xd_inv, yd_inv] = FpInvertBatch(Fp, [xd, yd], true);
  return { x: Fp.mul(xn, xd_inv), y: Fp.mul(yn, yd_inv) };
}
function calcElligatorRistrettoMap(r0) {
  const { d } = ed25519_CURVE;
  const P = ed25519_CURVE_p;
  const mod4 = (n) => Fp.create(n);
  const r = mod4(SQRT_M1 * r0 * r0);
  const Ns = mod4((r + _1n7) * ONE_MINUS_D_SQ);
  let c = BigInt(-1);
  const D = mod4((c - d * r) * mod4(r + d));
  let { isValid: Ns_D_is_sq, value: s } = uvRatio(Ns, D);
  let s_ = mod4(s * r0);
  if (!isNegativeLE(s_, P))
    s_ = mod4(-s_);
  if (!Ns_D_is_sq)
    s = s_;
  if (!Ns_D_is_sq)
    c = r;
  const Nt = mod4(c * (r - _1n7) * D_MINUS_ONE_SQ - D);
  const s2 = s * s;
  const W0 = mod4((s + s) * D);
  const W1 = mod4(Nt * SQRT_AD_MINUS_ONE);
  const W2 = mod4(_1n7 - s2);
  const W3 = mod4(_1n7 + s2);
  return new ed25519_Point(mod4(W0 * W3), mod4(W2 * W1), mod4(W1 * W3), mod4(W0 * W2));
}
var _0n7, _1n7, _2n5, _3n2, _5n2, _8n3, ed25519_CURVE_p, ed25519_CURVE, ED25519_SQRT_M1, ed25519_Point, Fp, Fn, ed25519, ed25519ctx, ed25519ph, x25519, ELL2_C1, ELL2_C2, ELL2_C3, ELL2_C1_EDWARDS, ed25519_hasher, SQRT_M1, SQRT_AD_MINUS_ONE, INVSQRT_A_MINUS_D, ONE_MINUS_D_SQ, D_MINUS_ONE_SQ, invertSqrt, MAX_255B, bytes255ToNumberLE, _RistrettoPoint, ristretto255, ristretto255_hasher, ristretto255_oprf, ED25519_TORSION_SUBGROUP;
var init_ed25519 = __esm({
  "../typescript/node_modules/@noble/curves/ed25519.js"() {
    init_sha2();
    init_utils2();
    init_edwards();
    init_hash_to_curve();
    init_modular();
    init_montgomery();
    init_oprf();
    init_utils3();
    _0n7 = /* @__PURE__ */ BigInt(0);
    _1n7 = BigInt(1);
    _2n5 = BigInt(2);
    _3n2 = /* @__PURE__ */ BigInt(3);
    _5n2 = BigInt(5);
    _8n3 = BigInt(8);
    ed25519_CURVE_p = BigInt("0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed");
    ed25519_CURVE = /* @__PURE__ */ (() => ({
      p: ed25519_CURVE_p,
      n: BigInt("0x1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed"),
      h: _8n3,
      a: BigInt("0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffec"),
      d: BigInt("0x52036cee2b6ffe738cc740797779e89800700a4d4141d8ab75eb4dca135978a3"),
      Gx: BigInt("0x216936d3cd6e53fec0a4e231fdd6dc5c692cc7609525a7b2c9562d608f25d51a"),
      Gy: BigInt("0x6666666666666666666666666666666666666666666666666666666666666658")
    }))();
    ED25519_SQRT_M1 = /* @__PURE__ */ BigInt("19681161376707505956807079304988542015446066515923890162744021073123829784752");
    ed25519_Point = /* @__PURE__ */ edwards(ed25519_CURVE, { uvRatio });
    Fp = /* @__PURE__ */ (() => ed25519_Point.Fp)();
    Fn = /* @__PURE__ */ (() => ed25519_Point.Fn)();
    ed25519 = /* @__PURE__ */ ed({});
    ed25519ctx = /* @__PURE__ */ ed({ domain: ed25519_domain });
    ed25519ph = /* @__PURE__ */ ed({ domain: ed25519_domain, prehash: sha5122 });
    x25519 = /* @__PURE__ */ (() => {
      const P = ed25519_CURVE_p;
      return montgomery2({
        P,
        type: "x25519",
        powPminus2: (x) => {
          const { pow_p_5_8, b2 } = ed25519_pow_2_252_3(x);
          return mod3(pow22(pow_p_5_8, _3n2, P) * b2, P);
        },
        adjustScalarBytes
      });
    })();
    ELL2_C1 = /* @__PURE__ */ (() => (ed25519_CURVE_p + _3n2) / _8n3)();
    ELL2_C2 = /* @__PURE__ */ (() => Fp.pow(_2n5, ELL2_C1))();
    ELL2_C3 = /* @__PURE__ */ (() => Fp.sqrt(Fp.neg(Fp.ONE)))();
    ELL2_C1_EDWARDS = /* @__PURE__ */ (() => FpSqrtEven(Fp, Fp.neg(BigInt(486664))))();
    ed25519_hasher = /* @__PURE__ */ (() => createHasher3(ed25519_Point, (scalars) => map_to_curve_elligator2_edwards25519(scalars[0]), {
      DST: "edwards25519_XMD:SHA-512_ELL2_RO_",
      encodeDST: "edwards25519_XMD:SHA-512_ELL2_NU_",
      p: ed25519_CURVE_p,
      m: 1,
      k: 128,
      expand: "xmd",
      hash: sha5122
    }))();
    SQRT_M1 = ED25519_SQRT_M1;
    SQRT_AD_MINUS_ONE = /* @__PURE__ */ BigInt("25063068953384623474111414158702152701244531502492656460079210482610430750235");
    INVSQRT_A_MINUS_D = /* @__PURE__ */ BigInt("54469307008909316920995813868745141605393597292927456921205312896311721017578");
    ONE_MINUS_D_SQ = /* @__PURE__ */ BigInt("1159843021668779879193775521855586647937357759715417654439879720876111806838");
    D_MINUS_ONE_SQ = /* @__PURE__ */ BigInt("40440834346308536858101042469323190826248399146238708352240133220865137265952");
    invertSqrt = (number) => uvRatio(_1n7, number);
    MAX_255B = /* @__PURE__ */ BigInt("0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
    bytes255ToNumberLE = (bytes) => Fp.create(bytesToNumberLE2(bytes) & MAX_255B);
    _RistrettoPoint = class __RistrettoPoint extends PrimeEdwardsPoint {
      // Do NOT change syntax: the following gymnastics is done,
      // because typescript strips comments, which makes bundlers disable tree-shaking.
      // prettier-ignore
      static BASE = /* @__PURE__ */ (() => new __RistrettoPoint(ed25519_Point.BASE))();
      // prettier-ignore
      static ZERO = /* @__PURE__ */ (() => new __RistrettoPoint(ed25519_Point.ZERO))();
      // prettier-ignore
      static Fp = /* @__PURE__ */ (() => Fp)();
      // prettier-ignore
      static Fn = /* @__PURE__ */ (() => Fn)();
      constructor(ep) {
        super(ep);
      }
      static fromAffine(ap) {
        return new __RistrettoPoint(ed25519_Point.fromAffine(ap));
      }
      assertSame(other) {
        if (!(other instanceof __RistrettoPoint))
          throw new Error("RistrettoPoint expected");
      }
      init(ep) {
        return new __RistrettoPoint(ep);
      }
      static fromBytes(bytes) {
        abytes3(bytes, 32);
        const { a, d } = ed25519_CURVE;
        const P = ed25519_CURVE_p;
        const mod4 = (n) => Fp.create(n);
        const s = bytes255ToNumberLE(bytes);
        if (!equalBytes2(Fp.toBytes(s), bytes) || isNegativeLE(s, P))
          throw new Error("invalid ristretto255 encoding 1");
        const s2 = mod4(s * s);
        const u1 = mod4(_1n7 + a * s2);
        const u2 = mod4(_1n7 - a * s2);
        const u1_2 = mod4(u1 * u1);
        const u2_2 = mod4(u2 * u2);
        const v = mod4(a * d * u1_2 - u2_2);
        const { isValid, value: I } = invertSqrt(mod4(v * u2_2));
        const Dx = mod4(I * u2);
        const Dy = mod4(I * Dx * v);
        let x = mod4((s + s) * Dx);
        if (isNegativeLE(x, P))
          x = mod4(-x);
        const y = mod4(u1 * Dy);
        const t = mod4(x * y);
        if (!isValid || isNegativeLE(t, P) || y === _0n7)
          throw new Error("invalid ristretto255 encoding 2");
        return new __RistrettoPoint(new ed25519_Point(x, y, _1n7, t));
      }
      /**
       * Converts ristretto-encoded string to ristretto point.
       * Described in [RFC9496](https://www.rfc-editor.org/rfc/rfc9496#name-decode).
       * @param hex Ristretto-encoded 32 bytes. Not every 32-byte string is valid ristretto encoding
       */
      static fromHex(hex) {
        return __RistrettoPoint.fromBytes(hexToBytes2(hex));
      }
      /**
       * Encodes ristretto point to Uint8Array.
       * Described in [RFC9496](https://www.rfc-editor.org/rfc/rfc9496#name-encode).
       */
      toBytes() {
        let { X, Y, Z, T } = this.ep;
        const P = ed25519_CURVE_p;
        const mod4 = (n) => Fp.create(n);
        const u1 = mod4(mod4(Z + Y) * mod4(Z - Y));
        const u2 = mod4(X * Y);
        const u2sq = mod4(u2 * u2);
        const { value: invsqrt } = invertSqrt(mod4(u1 * u2sq));
        const D1 = mod4(invsqrt * u1);
        const D2 = mod4(invsqrt * u2);
        const zInv = mod4(D1 * D2 * T);
        let D;
        if (isNegativeLE(T * zInv, P)) {
          let _x = mod4(Y * SQRT_M1);
          let _y = mod4(X * SQRT_M1);
          X = _x;
          Y = _y;
          D = mod4(D1 * INVSQRT_A_MINUS_D);
        } else {
          D = D2;
        }
        if (isNegativeLE(X * zInv, P))
          Y = mod4(-Y);
        let s = mod4((Z - Y) * D);
        if (isNegativeLE(s, P))
          s = mod4(-s);
        return Fp.toBytes(s);
      }
      /**
       * Compares two Ristretto points.
       * Described in [RFC9496](https://www.rfc-editor.org/rfc/rfc9496#name-equals).
       */
      equals(other) {
        this.assertSame(other);
        const { X: X1, Y: Y1 } = this.ep;
        const { X: X2, Y: Y2 } = other.ep;
        const mod4 = (n) => Fp.create(n);
        const one = mod4(X1 * Y2) === mod4(Y1 * X2);
        const two = mod4(Y1 * Y2) === mod4(X1 * X2);
        return one || two;
      }
      is0() {
        return this.equals(__RistrettoPoint.ZERO);
      }
    };
    ristretto255 = { Point: _RistrettoPoint };
    ristretto255_hasher = {
      Point: _RistrettoPoint,
      /**
      * Spec: https://www.rfc-editor.org/rfc/rfc9380.html#name-hashing-to-ristretto255. Caveats:
      * * There are no test vectors
      * * encodeToCurve / mapToCurve is undefined
      * * mapToCurve would be `calcElligatorRistrettoMap(scalars[0])`, not ristretto255_map!
      * * hashToScalar is undefined too, so we just use OPRF implementation
      * * We cannot re-use 'createHasher', because ristretto255_map is different algorithm/RFC
        (os2ip -> bytes255ToNumberLE)
      * * mapToCurve == calcElligatorRistrettoMap, hashToCurve == ristretto255_map
      * * hashToScalar is undefined in RFC9380 for ristretto, we are using version from OPRF here, using bytes255ToNumblerLE will create different result if we use bytes255ToNumberLE as os2ip
      * * current version is closest to spec.
      */
      hashToCurve(msg, options) {
        const DST = options?.DST || "ristretto255_XMD:SHA-512_R255MAP_RO_";
        const xmd = expand_message_xmd(msg, DST, 64, sha5122);
        return ristretto255_hasher.deriveToCurve(xmd);
      },
      hashToScalar(msg, options = { DST: _DST_scalar }) {
        const xmd = expand_message_xmd(msg, options.DST, 64, sha5122);
        return Fn.create(bytesToNumberLE2(xmd));
      },
      /**
       * HashToCurve-like construction based on RFC 9496 (Element Derivation).
       * Converts 64 uniform random bytes into a curve point.
       *
       * WARNING: This represents an older hash-to-curve construction, preceding the finalization of RFC 9380.
       * It was later reused as a component in the newer `hash_to_ristretto255` function defined in RFC 9380.
       */
      deriveToCurve(bytes) {
        abytes3(bytes, 64);
        const r1 = bytes255ToNumberLE(bytes.subarray(0, 32));
        const R1 = calcElligatorRistrettoMap(r1);
        const r2 = bytes255ToNumberLE(bytes.subarray(32, 64));
        const R2 = calcElligatorRistrettoMap(r2);
        return new _RistrettoPoint(R1.add(R2));
      }
    };
    ristretto255_oprf = /* @__PURE__ */ (() => createORPF({
      name: "ristretto255-SHA512",
      Point: _RistrettoPoint,
      hash: sha5122,
      hashToGroup: ristretto255_hasher.hashToCurve,
      hashToScalar: ristretto255_hasher.hashToScalar
    }))();
    ED25519_TORSION_SUBGROUP = [
      "0100000000000000000000000000000000000000000000000000000000000000",
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
      "0000000000000000000000000000000000000000000000000000000000000080",
      "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
      "0000000000000000000000000000000000000000000000000000000000000000",
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"
    ];
  }
});

// ../typescript/node_modules/@noble/hashes/sha3.js
function keccakP(s, rounds = 24) {
  const B = new Uint32Array(5 * 2);
  for (let round = 24 - rounds; round < 24; round++) {
    for (let x = 0; x < 10; x++)
      B[x] = s[x] ^ s[x + 10] ^ s[x + 20] ^ s[x + 30] ^ s[x + 40];
    for (let x = 0; x < 10; x += 2) {
      const idx1 = (x + 8) % 10;
      const idx0 = (x + 2) % 10;
      const B0 = B[idx0];
      const B1 = B[idx0 + 1];
      const Th = rotlH(B0, B1, 1) ^ B[idx1];
      const Tl = rotlL(B0, B1, 1) ^ B[idx1 + 1];
      for (let y = 0; y < 50; y += 10) {
        s[x + y] ^= Th;
        s[x + y + 1] ^= Tl;
      }
    }
    let curH = s[2];
    let curL = s[3];
    for (let t = 0; t < 24; t++) {
      const shift = SHA3_ROTL2[t];
      const Th = rotlH(curH, curL, shift);
      const Tl = rotlL(curH, curL, shift);
      const PI = SHA3_PI2[t];
      curH = s[PI];
      curL = s[PI + 1];
      s[PI] = Th;
      s[PI + 1] = Tl;
    }
    for (let y = 0; y < 50; y += 10) {
      for (let x = 0; x < 10; x++)
        B[x] = s[y + x];
      for (let x = 0; x < 10; x++)
        s[y + x] ^= ~B[(x + 2) % 10] & B[(x + 4) % 10];
    }
    s[0] ^= SHA3_IOTA_H2[round];
    s[1] ^= SHA3_IOTA_L2[round];
  }
  clean3(B);
}
var _0n8, _1n8, _2n6, _7n3, _256n2, _0x71n2, SHA3_PI2, SHA3_ROTL2, _SHA3_IOTA2, IOTAS2, SHA3_IOTA_H2, SHA3_IOTA_L2, rotlH, rotlL, Keccak, genShake, shake2562;
var init_sha3 = __esm({
  "../typescript/node_modules/@noble/hashes/sha3.js"() {
    init_u64();
    init_utils2();
    _0n8 = BigInt(0);
    _1n8 = BigInt(1);
    _2n6 = BigInt(2);
    _7n3 = BigInt(7);
    _256n2 = BigInt(256);
    _0x71n2 = BigInt(113);
    SHA3_PI2 = [];
    SHA3_ROTL2 = [];
    _SHA3_IOTA2 = [];
    for (let round = 0, R = _1n8, x = 1, y = 0; round < 24; round++) {
      [x, y] = [y, (2 * x + 3 * y) % 5];
      SHA3_PI2.push(2 * (5 * y + x));
      SHA3_ROTL2.push((round + 1) * (round + 2) / 2 % 64);
      let t = _0n8;
      for (let j = 0; j < 7; j++) {
        R = (R << _1n8 ^ (R >> _7n3) * _0x71n2) % _256n2;
        if (R & _2n6)
          t ^= _1n8 << (_1n8 << BigInt(j)) - _1n8;
      }
      _SHA3_IOTA2.push(t);
    }
    IOTAS2 = split2(_SHA3_IOTA2, true);
    SHA3_IOTA_H2 = IOTAS2[0];
    SHA3_IOTA_L2 = IOTAS2[1];
    rotlH = (h2, l, s) => s > 32 ? rotlBH2(h2, l, s) : rotlSH2(h2, l, s);
    rotlL = (h2, l, s) => s > 32 ? rotlBL2(h2, l, s) : rotlSL2(h2, l, s);
    Keccak = class _Keccak {
      state;
      pos = 0;
      posOut = 0;
      finished = false;
      state32;
      destroyed = false;
      blockLen;
      suffix;
      outputLen;
      enableXOF = false;
      rounds;
      // NOTE: we accept arguments in bytes instead of bits here.
      constructor(blockLen, suffix, outputLen, enableXOF = false, rounds = 24) {
        this.blockLen = blockLen;
        this.suffix = suffix;
        this.outputLen = outputLen;
        this.enableXOF = enableXOF;
        this.rounds = rounds;
        anumber3(outputLen, "outputLen");
        if (!(0 < blockLen && blockLen < 200))
          throw new Error("only keccak-f1600 function is supported");
        this.state = new Uint8Array(200);
        this.state32 = u323(this.state);
      }
      clone() {
        return this._cloneInto();
      }
      keccak() {
        swap32IfBE2(this.state32);
        keccakP(this.state32, this.rounds);
        swap32IfBE2(this.state32);
        this.posOut = 0;
        this.pos = 0;
      }
      update(data) {
        aexists3(this);
        abytes3(data);
        const { blockLen, state } = this;
        const len = data.length;
        for (let pos = 0; pos < len; ) {
          const take2 = Math.min(blockLen - this.pos, len - pos);
          for (let i = 0; i < take2; i++)
            state[this.pos++] ^= data[pos++];
          if (this.pos === blockLen)
            this.keccak();
        }
        return this;
      }
      finish() {
        if (this.finished)
          return;
        this.finished = true;
        const { state, suffix, pos, blockLen } = this;
        state[pos] ^= suffix;
        if ((suffix & 128) !== 0 && pos === blockLen - 1)
          this.keccak();
        state[blockLen - 1] ^= 128;
        this.keccak();
      }
      writeInto(out) {
        aexists3(this, false);
        abytes3(out);
        this.finish();
        const bufferOut = this.state;
        const { blockLen } = this;
        for (let pos = 0, len = out.length; pos < len; ) {
          if (this.posOut >= blockLen)
            this.keccak();
          const take2 = Math.min(blockLen - this.posOut, len - pos);
          out.set(bufferOut.subarray(this.posOut, this.posOut + take2), pos);
          this.posOut += take2;
          pos += take2;
        }
        return out;
      }
      xofInto(out) {
        if (!this.enableXOF)
          throw new Error("XOF is not possible for this instance");
        return this.writeInto(out);
      }
      xof(bytes) {
        anumber3(bytes);
        return this.xofInto(new Uint8Array(bytes));
      }
      digestInto(out) {
        aoutput3(out, this);
        if (this.finished)
          throw new Error("digest() was already called");
        this.writeInto(out);
        this.destroy();
        return out;
      }
      digest() {
        return this.digestInto(new Uint8Array(this.outputLen));
      }
      destroy() {
        this.destroyed = true;
        clean3(this.state);
      }
      _cloneInto(to) {
        const { blockLen, suffix, outputLen, rounds, enableXOF } = this;
        to ||= new _Keccak(blockLen, suffix, outputLen, enableXOF, rounds);
        to.state32.set(this.state32);
        to.pos = this.pos;
        to.posOut = this.posOut;
        to.finished = this.finished;
        to.rounds = rounds;
        to.suffix = suffix;
        to.outputLen = outputLen;
        to.enableXOF = enableXOF;
        to.destroyed = this.destroyed;
        return to;
      }
    };
    genShake = (suffix, blockLen, outputLen, info = {}) => createHasher2((opts = {}) => new Keccak(blockLen, suffix, opts.dkLen === void 0 ? outputLen : opts.dkLen, true), info);
    shake2562 = /* @__PURE__ */ genShake(31, 136, 32, /* @__PURE__ */ oidNist2(12));
  }
});

// ../typescript/node_modules/@noble/curves/ed448.js
var ed448_exports = {};
__export(ed448_exports, {
  E448: () => E448,
  ED448_TORSION_SUBGROUP: () => ED448_TORSION_SUBGROUP,
  decaf448: () => decaf448,
  decaf448_hasher: () => decaf448_hasher,
  decaf448_oprf: () => decaf448_oprf,
  ed448: () => ed448,
  ed448_hasher: () => ed448_hasher,
  ed448ph: () => ed448ph,
  x448: () => x448
});
function ed448_pow_Pminus3div4(x) {
  const P = ed448_CURVE_p;
  const b2 = x * x * x % P;
  const b3 = b2 * b2 * x % P;
  const b6 = pow22(b3, _3n3, P) * b3 % P;
  const b9 = pow22(b6, _3n3, P) * b3 % P;
  const b11 = pow22(b9, _2n7, P) * b2 % P;
  const b22 = pow22(b11, _11n, P) * b11 % P;
  const b44 = pow22(b22, _22n, P) * b22 % P;
  const b88 = pow22(b44, _44n, P) * b44 % P;
  const b176 = pow22(b88, _88n, P) * b88 % P;
  const b220 = pow22(b176, _44n, P) * b44 % P;
  const b222 = pow22(b220, _2n7, P) * b2 % P;
  const b223 = pow22(b222, _1n9, P) * x % P;
  return pow22(b223, _223n, P) * b222 % P;
}
function adjustScalarBytes2(bytes) {
  bytes[0] &= 252;
  bytes[55] |= 128;
  bytes[56] = 0;
  return bytes;
}
function uvRatio2(u, v) {
  const P = ed448_CURVE_p;
  const u2v = mod3(u * u * v, P);
  const u3v = mod3(u2v * u, P);
  const u5v3 = mod3(u3v * u2v * v, P);
  const root2 = ed448_pow_Pminus3div4(u5v3);
  const x = mod3(u3v * root2, P);
  const x2 = mod3(x * x, P);
  return { isValid: mod3(x2 * v, P) === u, value: x };
}
function dom4(data, ctx, phflag) {
  if (ctx.length > 255)
    throw new Error("context must be smaller than 255, got: " + ctx.length);
  return concatBytes2(asciiToBytes("SigEd448"), new Uint8Array([phflag ? 1 : 0, ctx.length]), ctx, data);
}
function ed4(opts) {
  return eddsa(ed448_Point, shake256_114, Object.assign({ adjustScalarBytes: adjustScalarBytes2, domain: dom4 }, opts));
}
function map_to_curve_elligator2_curve448(u) {
  let tv1 = Fp2.sqr(u);
  let e1 = Fp2.eql(tv1, Fp2.ONE);
  tv1 = Fp2.cmov(tv1, Fp2.ZERO, e1);
  let xd = Fp2.sub(Fp2.ONE, tv1);
  let x1n = Fp2.neg(ELL2_J);
  let tv2 = Fp2.sqr(xd);
  let gxd = Fp2.mul(tv2, xd);
  let gx1 = Fp2.mul(tv1, Fp2.neg(ELL2_J));
  gx1 = Fp2.mul(gx1, x1n);
  gx1 = Fp2.add(gx1, tv2);
  gx1 = Fp2.mul(gx1, x1n);
  let tv3 = Fp2.sqr(gxd);
  tv2 = Fp2.mul(gx1, gxd);
  tv3 = Fp2.mul(tv3, tv2);
  let y1 = Fp2.pow(tv3, ELL2_C12);
  y1 = Fp2.mul(y1, tv2);
  let x2n = Fp2.mul(x1n, Fp2.neg(tv1));
  let y2 = Fp2.mul(y1, u);
  y2 = Fp2.cmov(y2, Fp2.ZERO, e1);
  tv2 = Fp2.sqr(y1);
  tv2 = Fp2.mul(tv2, gxd);
  let e2 = Fp2.eql(tv2, gx1);
  let xn = Fp2.cmov(x2n, x1n, e2);
  let y = Fp2.cmov(y2, y1, e2);
  let e3 = Fp2.isOdd(y);
  y = Fp2.cmov(y, Fp2.neg(y), e2 !== e3);
  return { xn, xd, yn: y, yd: Fp2.ONE };
}
function map_to_curve_elligator2_edwards448(u) {
  let { xn, xd, yn, yd } = map_to_curve_elligator2_curve448(u);
  let xn2 = Fp2.sqr(xn);
  let xd2 = Fp2.sqr(xd);
  let xd4 = Fp2.sqr(xd2);
  let yn2 = Fp2.sqr(yn);
  let yd2 = Fp2.sqr(yd);
  let xEn = Fp2.sub(xn2, xd2);
  let tv2 = Fp2.sub(xEn, xd2);
  xEn = Fp2.mul(xEn, xd2);
  xEn = Fp2.mul(xEn, yd);
  xEn = Fp2.mul(xEn, yn);
  xEn = Fp2.mul(xEn, _4n2);
  tv2 = Fp2.mul(tv2, xn2);
  tv2 = Fp2.mul(tv2, yd2);
  let tv3 = Fp2.mul(yn2, _4n2);
  let tv1 = Fp2.add(tv3, yd2);
  tv1 = Fp2.mul(tv1, xd4);
  let xEd = Fp2.add(tv1, tv2);
  tv2 = Fp2.mul(tv2, xn);
  let tv4 = Fp2.mul(xn, xd4);
  let yEn = Fp2.sub(tv3, yd2);
  yEn = Fp2.mul(yEn, tv4);
  yEn = Fp2.sub(yEn, tv2);
  tv1 = Fp2.add(xn2, xd2);
  tv1 = Fp2.mul(tv1, xd2);
  tv1 = Fp2.mul(tv1, xd);
  tv1 = Fp2.mul(tv1, yn2);
  tv1 = Fp2.mul(tv1, BigInt(-2));
  let yEd = Fp2.add(tv2, tv1);
  tv4 = Fp2.mul(tv4, yd2);
  yEd = Fp2.add(yEd, tv4);
  tv1 = Fp2.mul(xEd, yEd);
  let e = Fp2.eql(tv1, Fp2.ZERO);
  xEn = Fp2.cmov(xEn, Fp2.ZERO, e);
  xEd = Fp2.cmov(xEd, Fp2.ONE, e);
  yEn = Fp2.cmov(yEn, Fp2.ONE, e);
  yEd = Fp2.cmov(yEd, Fp2.ONE, e);
  const inv = FpInvertBatch(Fp2, [xEd, yEd], true);
  return { x: Fp2.mul(xEn, inv[0]), y: Fp2.mul(yEn, inv[1]) };
}
function calcElligatorDecafMap(r0) {
  const { d, p: P } = ed448_CURVE;
  const mod4 = (n) => Fp448.create(n);
  const r = mod4(-(r0 * r0));
  const u0 = mod4(d * (r - _1n9));
  const u1 = mod4((u0 + _1n9) * (u0 - r));
  const { isValid: was_square, value: v } = uvRatio2(ONE_MINUS_TWO_D, mod4((r + _1n9) * u1));
  let v_prime = v;
  if (!was_square)
    v_prime = mod4(r0 * v);
  let sgn = _1n9;
  if (!was_square)
    sgn = mod4(-_1n9);
  const s = mod4(v_prime * (r + _1n9));
  let s_abs = s;
  if (isNegativeLE(s, P))
    s_abs = mod4(-s);
  const s2 = s * s;
  const W0 = mod4(s_abs * _2n7);
  const W1 = mod4(s2 + _1n9);
  const W2 = mod4(s2 - _1n9);
  const W3 = mod4(v_prime * s * (r - _1n9) * ONE_MINUS_TWO_D + sgn);
  return new ed448_Point(mod4(W0 * W3), mod4(W2 * W1), mod4(W1 * W3), mod4(W0 * W2));
}
var ed448_CURVE_p, ed448_CURVE, E448_CURVE, shake256_114, shake256_64, _1n9, _2n7, _3n3, _4n2, _11n, _22n, _44n, _88n, _223n, Fp2, Fn2, Fp448, Fn448, ed448_Point, ed448, ed448ph, E448, x448, ELL2_C12, ELL2_J, ed448_hasher, ONE_MINUS_D, ONE_MINUS_TWO_D, SQRT_MINUS_D, INVSQRT_MINUS_D, invertSqrt2, _DecafPoint, decaf448, decaf448_hasher, decaf448_oprf, ED448_TORSION_SUBGROUP;
var init_ed448 = __esm({
  "../typescript/node_modules/@noble/curves/ed448.js"() {
    init_sha3();
    init_utils2();
    init_edwards();
    init_hash_to_curve();
    init_modular();
    init_montgomery();
    init_oprf();
    init_utils3();
    ed448_CURVE_p = BigInt("0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
    ed448_CURVE = /* @__PURE__ */ (() => ({
      p: ed448_CURVE_p,
      n: BigInt("0x3fffffffffffffffffffffffffffffffffffffffffffffffffffffff7cca23e9c44edb49aed63690216cc2728dc58f552378c292ab5844f3"),
      h: BigInt(4),
      a: BigInt(1),
      d: BigInt("0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffffffffffffffffffffffffffffffffffffffffffffffff6756"),
      Gx: BigInt("0x4f1970c66bed0ded221d15a622bf36da9e146570470f1767ea6de324a3d3a46412ae1af72ab66511433b80e18b00938e2626a82bc70cc05e"),
      Gy: BigInt("0x693f46716eb6bc248876203756c9c7624bea73736ca3984087789c1e05a0c2d73ad3ff1ce67c39c4fdbd132c4ed7c8ad9808795bf230fa14")
    }))();
    E448_CURVE = /* @__PURE__ */ (() => Object.assign({}, ed448_CURVE, {
      d: BigInt("0xd78b4bdc7f0daf19f24f38c29373a2ccad46157242a50f37809b1da3412a12e79ccc9c81264cfe9ad080997058fb61c4243cc32dbaa156b9"),
      Gx: BigInt("0x79a70b2b70400553ae7c9df416c792c61128751ac92969240c25a07d728bdc93e21f7787ed6972249de732f38496cd11698713093e9c04fc"),
      Gy: BigInt("0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffff80000000000000000000000000000000000000000000000000000001")
    }))();
    shake256_114 = /* @__PURE__ */ createHasher2(() => shake2562.create({ dkLen: 114 }));
    shake256_64 = /* @__PURE__ */ createHasher2(() => shake2562.create({ dkLen: 64 }));
    _1n9 = BigInt(1);
    _2n7 = BigInt(2);
    _3n3 = BigInt(3);
    _4n2 = /* @__PURE__ */ BigInt(4);
    _11n = BigInt(11);
    _22n = BigInt(22);
    _44n = BigInt(44);
    _88n = BigInt(88);
    _223n = BigInt(223);
    Fp2 = /* @__PURE__ */ (() => Field(ed448_CURVE_p, { BITS: 456, isLE: true }))();
    Fn2 = /* @__PURE__ */ (() => Field(ed448_CURVE.n, { BITS: 456, isLE: true }))();
    Fp448 = /* @__PURE__ */ (() => Field(ed448_CURVE_p, { BITS: 448, isLE: true }))();
    Fn448 = /* @__PURE__ */ (() => Field(ed448_CURVE.n, { BITS: 448, isLE: true }))();
    ed448_Point = /* @__PURE__ */ edwards(ed448_CURVE, { Fp: Fp2, Fn: Fn2, uvRatio: uvRatio2 });
    ed448 = /* @__PURE__ */ ed4({});
    ed448ph = /* @__PURE__ */ ed4({ prehash: shake256_64 });
    E448 = /* @__PURE__ */ edwards(E448_CURVE);
    x448 = /* @__PURE__ */ (() => {
      const P = ed448_CURVE_p;
      return montgomery2({
        P,
        type: "x448",
        powPminus2: (x) => {
          const Pminus3div4 = ed448_pow_Pminus3div4(x);
          const Pminus3 = pow22(Pminus3div4, _2n7, P);
          return mod3(Pminus3 * x, P);
        },
        adjustScalarBytes: adjustScalarBytes2
      });
    })();
    ELL2_C12 = /* @__PURE__ */ (() => (ed448_CURVE_p - BigInt(3)) / BigInt(4))();
    ELL2_J = /* @__PURE__ */ BigInt(156326);
    ed448_hasher = /* @__PURE__ */ (() => createHasher3(ed448_Point, (scalars) => map_to_curve_elligator2_edwards448(scalars[0]), {
      DST: "edwards448_XOF:SHAKE256_ELL2_RO_",
      encodeDST: "edwards448_XOF:SHAKE256_ELL2_NU_",
      p: ed448_CURVE_p,
      m: 1,
      k: 224,
      expand: "xof",
      hash: shake2562
    }))();
    ONE_MINUS_D = /* @__PURE__ */ BigInt("39082");
    ONE_MINUS_TWO_D = /* @__PURE__ */ BigInt("78163");
    SQRT_MINUS_D = /* @__PURE__ */ BigInt("98944233647732219769177004876929019128417576295529901074099889598043702116001257856802131563896515373927712232092845883226922417596214");
    INVSQRT_MINUS_D = /* @__PURE__ */ BigInt("315019913931389607337177038330951043522456072897266928557328499619017160722351061360252776265186336876723201881398623946864393857820716");
    invertSqrt2 = (number) => uvRatio2(_1n9, number);
    _DecafPoint = class __DecafPoint extends PrimeEdwardsPoint {
      // The following gymnastics is done because typescript strips comments otherwise
      // prettier-ignore
      static BASE = /* @__PURE__ */ (() => new __DecafPoint(ed448_Point.BASE).multiplyUnsafe(_2n7))();
      // prettier-ignore
      static ZERO = /* @__PURE__ */ (() => new __DecafPoint(ed448_Point.ZERO))();
      // prettier-ignore
      static Fp = /* @__PURE__ */ (() => Fp448)();
      // prettier-ignore
      static Fn = /* @__PURE__ */ (() => Fn448)();
      constructor(ep) {
        super(ep);
      }
      static fromAffine(ap) {
        return new __DecafPoint(ed448_Point.fromAffine(ap));
      }
      assertSame(other) {
        if (!(other instanceof __DecafPoint))
          throw new Error("DecafPoint expected");
      }
      init(ep) {
        return new __DecafPoint(ep);
      }
      static fromBytes(bytes) {
        abytes3(bytes, 56);
        const { d, p: P } = ed448_CURVE;
        const mod4 = (n) => Fp448.create(n);
        const s = Fp448.fromBytes(bytes);
        if (!equalBytes2(Fn448.toBytes(s), bytes) || isNegativeLE(s, P))
          throw new Error("invalid decaf448 encoding 1");
        const s2 = mod4(s * s);
        const u1 = mod4(_1n9 + s2);
        const u1sq = mod4(u1 * u1);
        const u2 = mod4(u1sq - _4n2 * d * s2);
        const { isValid, value: invsqrt } = invertSqrt2(mod4(u2 * u1sq));
        let u3 = mod4((s + s) * invsqrt * u1 * SQRT_MINUS_D);
        if (isNegativeLE(u3, P))
          u3 = mod4(-u3);
        const x = mod4(u3 * invsqrt * u2 * INVSQRT_MINUS_D);
        const y = mod4((_1n9 - s2) * invsqrt * u1);
        const t = mod4(x * y);
        if (!isValid)
          throw new Error("invalid decaf448 encoding 2");
        return new __DecafPoint(new ed448_Point(x, y, _1n9, t));
      }
      /**
       * Converts decaf-encoded string to decaf point.
       * Described in [RFC9496](https://www.rfc-editor.org/rfc/rfc9496#name-decode-2).
       * @param hex Decaf-encoded 56 bytes. Not every 56-byte string is valid decaf encoding
       */
      static fromHex(hex) {
        return __DecafPoint.fromBytes(hexToBytes2(hex));
      }
      /**
       * Encodes decaf point to Uint8Array.
       * Described in [RFC9496](https://www.rfc-editor.org/rfc/rfc9496#name-encode-2).
       */
      toBytes() {
        const { X, Z, T } = this.ep;
        const P = ed448_CURVE.p;
        const mod4 = (n) => Fp448.create(n);
        const u1 = mod4(mod4(X + T) * mod4(X - T));
        const x2 = mod4(X * X);
        const { value: invsqrt } = invertSqrt2(mod4(u1 * ONE_MINUS_D * x2));
        let ratio = mod4(invsqrt * u1 * SQRT_MINUS_D);
        if (isNegativeLE(ratio, P))
          ratio = mod4(-ratio);
        const u2 = mod4(INVSQRT_MINUS_D * ratio * Z - T);
        let s = mod4(ONE_MINUS_D * invsqrt * X * u2);
        if (isNegativeLE(s, P))
          s = mod4(-s);
        return Fn448.toBytes(s);
      }
      /**
       * Compare one point to another.
       * Described in [RFC9496](https://www.rfc-editor.org/rfc/rfc9496#name-equals-2).
       */
      equals(other) {
        this.assertSame(other);
        const { X: X1, Y: Y1 } = this.ep;
        const { X: X2, Y: Y2 } = other.ep;
        return Fp448.create(X1 * Y2) === Fp448.create(Y1 * X2);
      }
      is0() {
        return this.equals(__DecafPoint.ZERO);
      }
    };
    decaf448 = { Point: _DecafPoint };
    decaf448_hasher = {
      Point: _DecafPoint,
      hashToCurve(msg, options) {
        const DST = options?.DST || "decaf448_XOF:SHAKE256_D448MAP_RO_";
        return decaf448_hasher.deriveToCurve(expand_message_xof(msg, DST, 112, 224, shake2562));
      },
      /**
       * Warning: has big modulo bias of 2^-64.
       * RFC is invalid. RFC says "use 64-byte xof", while for 2^-112 bias
       * it must use 84-byte xof (56+56/2), not 64.
       */
      hashToScalar(msg, options = { DST: _DST_scalar }) {
        const xof = expand_message_xof(msg, options.DST, 64, 256, shake2562);
        return Fn448.create(bytesToNumberLE2(xof));
      },
      /**
       * HashToCurve-like construction based on RFC 9496 (Element Derivation).
       * Converts 112 uniform random bytes into a curve point.
       *
       * WARNING: This represents an older hash-to-curve construction, preceding the finalization of RFC 9380.
       * It was later reused as a component in the newer `hash_to_ristretto255` function defined in RFC 9380.
       */
      deriveToCurve(bytes) {
        abytes3(bytes, 112);
        const skipValidation = true;
        const r1 = Fp448.create(Fp448.fromBytes(bytes.subarray(0, 56), skipValidation));
        const R1 = calcElligatorDecafMap(r1);
        const r2 = Fp448.create(Fp448.fromBytes(bytes.subarray(56, 112), skipValidation));
        const R2 = calcElligatorDecafMap(r2);
        return new _DecafPoint(R1.add(R2));
      }
    };
    decaf448_oprf = /* @__PURE__ */ (() => createORPF({
      name: "decaf448-SHAKE256",
      Point: _DecafPoint,
      hash: (msg) => shake2562(msg, { dkLen: 64 }),
      hashToGroup: decaf448_hasher.hashToCurve,
      hashToScalar: decaf448_hasher.hashToScalar
    }))();
    ED448_TORSION_SUBGROUP = [
      "010000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
      "fefffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffffffffffffffffffffffffffffffffffffffffffffffffff00",
      "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
      "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000080"
    ];
  }
});

// ../typescript/node_modules/@noble/hashes/hmac.js
var _HMAC2, hmac2;
var init_hmac = __esm({
  "../typescript/node_modules/@noble/hashes/hmac.js"() {
    init_utils2();
    _HMAC2 = class {
      oHash;
      iHash;
      blockLen;
      outputLen;
      finished = false;
      destroyed = false;
      constructor(hash, key) {
        ahash2(hash);
        abytes3(key, void 0, "key");
        this.iHash = hash.create();
        if (typeof this.iHash.update !== "function")
          throw new Error("Expected instance of class which extends utils.Hash");
        this.blockLen = this.iHash.blockLen;
        this.outputLen = this.iHash.outputLen;
        const blockLen = this.blockLen;
        const pad = new Uint8Array(blockLen);
        pad.set(key.length > blockLen ? hash.create().update(key).digest() : key);
        for (let i = 0; i < pad.length; i++)
          pad[i] ^= 54;
        this.iHash.update(pad);
        this.oHash = hash.create();
        for (let i = 0; i < pad.length; i++)
          pad[i] ^= 54 ^ 92;
        this.oHash.update(pad);
        clean3(pad);
      }
      update(buf) {
        aexists3(this);
        this.iHash.update(buf);
        return this;
      }
      digestInto(out) {
        aexists3(this);
        abytes3(out, this.outputLen, "output");
        this.finished = true;
        this.iHash.digestInto(out);
        this.oHash.update(out);
        this.oHash.digestInto(out);
        this.destroy();
      }
      digest() {
        const out = new Uint8Array(this.oHash.outputLen);
        this.digestInto(out);
        return out;
      }
      _cloneInto(to) {
        to ||= Object.create(Object.getPrototypeOf(this), {});
        const { oHash, iHash, finished, destroyed, blockLen, outputLen } = this;
        to = to;
        to.finished = finished;
        to.destroyed = destroyed;
        to.blockLen = blockLen;
        to.outputLen = outputLen;
        to.oHash = oHash._cloneInto(to.oHash);
        to.iHash = iHash._cloneInto(to.iHash);
        return to;
      }
      clone() {
        return this._cloneInto();
      }
      destroy() {
        this.destroyed = true;
        this.oHash.destroy();
        this.iHash.destroy();
      }
    };
    hmac2 = (hash, key, message) => new _HMAC2(hash, key).update(message).digest();
    hmac2.create = (hash, key) => new _HMAC2(hash, key);
  }
});

// ../typescript/node_modules/@noble/curves/abstract/weierstrass.js
function _splitEndoScalar(k, basis, n) {
  const [[a1, b1], [a2, b2]] = basis;
  const c1 = divNearest(b2 * k, n);
  const c2 = divNearest(-b1 * k, n);
  let k1 = k - c1 * a1 - c2 * a2;
  let k2 = -c1 * b1 - c2 * b2;
  const k1neg = k1 < _0n9;
  const k2neg = k2 < _0n9;
  if (k1neg)
    k1 = -k1;
  if (k2neg)
    k2 = -k2;
  const MAX_NUM = bitMask(Math.ceil(bitLen(n) / 2)) + _1n10;
  if (k1 < _0n9 || k1 >= MAX_NUM || k2 < _0n9 || k2 >= MAX_NUM) {
    throw new Error("splitScalar (endomorphism): failed, k=" + k);
  }
  return { k1neg, k1, k2neg, k2 };
}
function validateSigFormat(format) {
  if (!["compact", "recovered", "der"].includes(format))
    throw new Error('Signature format must be "compact", "recovered", or "der"');
  return format;
}
function validateSigOpts(opts, def) {
  const optsn = {};
  for (let optName of Object.keys(def)) {
    optsn[optName] = opts[optName] === void 0 ? def[optName] : opts[optName];
  }
  abool2(optsn.lowS, "lowS");
  abool2(optsn.prehash, "prehash");
  if (optsn.format !== void 0)
    validateSigFormat(optsn.format);
  return optsn;
}
function weierstrass(params, extraOpts = {}) {
  const validated = createCurveFields("weierstrass", params, extraOpts);
  const { Fp: Fp3, Fn: Fn3 } = validated;
  let CURVE = validated.CURVE;
  const { h: cofactor, n: CURVE_ORDER } = CURVE;
  validateObject2(extraOpts, {}, {
    allowInfinityPoint: "boolean",
    clearCofactor: "function",
    isTorsionFree: "function",
    fromBytes: "function",
    toBytes: "function",
    endo: "object"
  });
  const { endo } = extraOpts;
  if (endo) {
    if (!Fp3.is0(CURVE.a) || typeof endo.beta !== "bigint" || !Array.isArray(endo.basises)) {
      throw new Error('invalid endo: expected "beta": bigint and "basises": array');
    }
  }
  const lengths = getWLengths(Fp3, Fn3);
  function assertCompressionIsSupported() {
    if (!Fp3.isOdd)
      throw new Error("compression is not supported: Field does not have .isOdd()");
  }
  function pointToBytes(_c, point, isCompressed) {
    const { x, y } = point.toAffine();
    const bx = Fp3.toBytes(x);
    abool2(isCompressed, "isCompressed");
    if (isCompressed) {
      assertCompressionIsSupported();
      const hasEvenY = !Fp3.isOdd(y);
      return concatBytes2(pprefix(hasEvenY), bx);
    } else {
      return concatBytes2(Uint8Array.of(4), bx, Fp3.toBytes(y));
    }
  }
  function pointFromBytes(bytes) {
    abytes3(bytes, void 0, "Point");
    const { publicKey: comp, publicKeyUncompressed: uncomp } = lengths;
    const length = bytes.length;
    const head = bytes[0];
    const tail = bytes.subarray(1);
    if (length === comp && (head === 2 || head === 3)) {
      const x = Fp3.fromBytes(tail);
      if (!Fp3.isValid(x))
        throw new Error("bad point: is not on curve, wrong x");
      const y2 = weierstrassEquation(x);
      let y;
      try {
        y = Fp3.sqrt(y2);
      } catch (sqrtError) {
        const err = sqrtError instanceof Error ? ": " + sqrtError.message : "";
        throw new Error("bad point: is not on curve, sqrt error" + err);
      }
      assertCompressionIsSupported();
      const evenY = Fp3.isOdd(y);
      const evenH = (head & 1) === 1;
      if (evenH !== evenY)
        y = Fp3.neg(y);
      return { x, y };
    } else if (length === uncomp && head === 4) {
      const L = Fp3.BYTES;
      const x = Fp3.fromBytes(tail.subarray(0, L));
      const y = Fp3.fromBytes(tail.subarray(L, L * 2));
      if (!isValidXY(x, y))
        throw new Error("bad point: is not on curve");
      return { x, y };
    } else {
      throw new Error(`bad point: got length ${length}, expected compressed=${comp} or uncompressed=${uncomp}`);
    }
  }
  const encodePoint = extraOpts.toBytes || pointToBytes;
  const decodePoint = extraOpts.fromBytes || pointFromBytes;
  function weierstrassEquation(x) {
    const x2 = Fp3.sqr(x);
    const x3 = Fp3.mul(x2, x);
    return Fp3.add(Fp3.add(x3, Fp3.mul(x, CURVE.a)), CURVE.b);
  }
  function isValidXY(x, y) {
    const left2 = Fp3.sqr(y);
    const right2 = weierstrassEquation(x);
    return Fp3.eql(left2, right2);
  }
  if (!isValidXY(CURVE.Gx, CURVE.Gy))
    throw new Error("bad curve params: generator point");
  const _4a3 = Fp3.mul(Fp3.pow(CURVE.a, _3n4), _4n3);
  const _27b2 = Fp3.mul(Fp3.sqr(CURVE.b), BigInt(27));
  if (Fp3.is0(Fp3.add(_4a3, _27b2)))
    throw new Error("bad curve params: a or b");
  function acoord(title, n, banZero = false) {
    if (!Fp3.isValid(n) || banZero && Fp3.is0(n))
      throw new Error(`bad point coordinate ${title}`);
    return n;
  }
  function aprjpoint(other) {
    if (!(other instanceof Point))
      throw new Error("Weierstrass Point expected");
  }
  function splitEndoScalarN(k) {
    if (!endo || !endo.basises)
      throw new Error("no endo");
    return _splitEndoScalar(k, endo.basises, Fn3.ORDER);
  }
  const toAffineMemo = memoized((p, iz) => {
    const { X, Y, Z } = p;
    if (Fp3.eql(Z, Fp3.ONE))
      return { x: X, y: Y };
    const is0 = p.is0();
    if (iz == null)
      iz = is0 ? Fp3.ONE : Fp3.inv(Z);
    const x = Fp3.mul(X, iz);
    const y = Fp3.mul(Y, iz);
    const zz = Fp3.mul(Z, iz);
    if (is0)
      return { x: Fp3.ZERO, y: Fp3.ZERO };
    if (!Fp3.eql(zz, Fp3.ONE))
      throw new Error("invZ was invalid");
    return { x, y };
  });
  const assertValidMemo = memoized((p) => {
    if (p.is0()) {
      if (extraOpts.allowInfinityPoint && !Fp3.is0(p.Y))
        return;
      throw new Error("bad point: ZERO");
    }
    const { x, y } = p.toAffine();
    if (!Fp3.isValid(x) || !Fp3.isValid(y))
      throw new Error("bad point: x or y not field elements");
    if (!isValidXY(x, y))
      throw new Error("bad point: equation left != right");
    if (!p.isTorsionFree())
      throw new Error("bad point: not in prime-order subgroup");
    return true;
  });
  function finishEndo(endoBeta, k1p, k2p, k1neg, k2neg) {
    k2p = new Point(Fp3.mul(k2p.X, endoBeta), k2p.Y, k2p.Z);
    k1p = negateCt(k1neg, k1p);
    k2p = negateCt(k2neg, k2p);
    return k1p.add(k2p);
  }
  class Point {
    // base / generator point
    static BASE = new Point(CURVE.Gx, CURVE.Gy, Fp3.ONE);
    // zero / infinity / identity point
    static ZERO = new Point(Fp3.ZERO, Fp3.ONE, Fp3.ZERO);
    // 0, 1, 0
    // math field
    static Fp = Fp3;
    // scalar field
    static Fn = Fn3;
    X;
    Y;
    Z;
    /** Does NOT validate if the point is valid. Use `.assertValidity()`. */
    constructor(X, Y, Z) {
      this.X = acoord("x", X);
      this.Y = acoord("y", Y, true);
      this.Z = acoord("z", Z);
      Object.freeze(this);
    }
    static CURVE() {
      return CURVE;
    }
    /** Does NOT validate if the point is valid. Use `.assertValidity()`. */
    static fromAffine(p) {
      const { x, y } = p || {};
      if (!p || !Fp3.isValid(x) || !Fp3.isValid(y))
        throw new Error("invalid affine point");
      if (p instanceof Point)
        throw new Error("projective point not allowed");
      if (Fp3.is0(x) && Fp3.is0(y))
        return Point.ZERO;
      return new Point(x, y, Fp3.ONE);
    }
    static fromBytes(bytes) {
      const P = Point.fromAffine(decodePoint(abytes3(bytes, void 0, "point")));
      P.assertValidity();
      return P;
    }
    static fromHex(hex) {
      return Point.fromBytes(hexToBytes2(hex));
    }
    get x() {
      return this.toAffine().x;
    }
    get y() {
      return this.toAffine().y;
    }
    /**
     *
     * @param windowSize
     * @param isLazy true will defer table computation until the first multiplication
     * @returns
     */
    precompute(windowSize = 8, isLazy = true) {
      wnaf.createCache(this, windowSize);
      if (!isLazy)
        this.multiply(_3n4);
      return this;
    }
    // TODO: return `this`
    /** A point on curve is valid if it conforms to equation. */
    assertValidity() {
      assertValidMemo(this);
    }
    hasEvenY() {
      const { y } = this.toAffine();
      if (!Fp3.isOdd)
        throw new Error("Field doesn't support isOdd");
      return !Fp3.isOdd(y);
    }
    /** Compare one point to another. */
    equals(other) {
      aprjpoint(other);
      const { X: X1, Y: Y1, Z: Z1 } = this;
      const { X: X2, Y: Y2, Z: Z2 } = other;
      const U1 = Fp3.eql(Fp3.mul(X1, Z2), Fp3.mul(X2, Z1));
      const U2 = Fp3.eql(Fp3.mul(Y1, Z2), Fp3.mul(Y2, Z1));
      return U1 && U2;
    }
    /** Flips point to one corresponding to (x, -y) in Affine coordinates. */
    negate() {
      return new Point(this.X, Fp3.neg(this.Y), this.Z);
    }
    // Renes-Costello-Batina exception-free doubling formula.
    // There is 30% faster Jacobian formula, but it is not complete.
    // https://eprint.iacr.org/2015/1060, algorithm 3
    // Cost: 8M + 3S + 3*a + 2*b3 + 15add.
    double() {
      const { a, b } = CURVE;
      const b3 = Fp3.mul(b, _3n4);
      const { X: X1, Y: Y1, Z: Z1 } = this;
      let X3 = Fp3.ZERO, Y3 = Fp3.ZERO, Z3 = Fp3.ZERO;
      let t0 = Fp3.mul(X1, X1);
      let t1 = Fp3.mul(Y1, Y1);
      let t2 = Fp3.mul(Z1, Z1);
      let t3 = Fp3.mul(X1, Y1);
      t3 = Fp3.add(t3, t3);
      Z3 = Fp3.mul(X1, Z1);
      Z3 = Fp3.add(Z3, Z3);
      X3 = Fp3.mul(a, Z3);
      Y3 = Fp3.mul(b3, t2);
      Y3 = Fp3.add(X3, Y3);
      X3 = Fp3.sub(t1, Y3);
      Y3 = Fp3.add(t1, Y3);
      Y3 = Fp3.mul(X3, Y3);
      X3 = Fp3.mul(t3, X3);
      Z3 = Fp3.mul(b3, Z3);
      t2 = Fp3.mul(a, t2);
      t3 = Fp3.sub(t0, t2);
      t3 = Fp3.mul(a, t3);
      t3 = Fp3.add(t3, Z3);
      Z3 = Fp3.add(t0, t0);
      t0 = Fp3.add(Z3, t0);
      t0 = Fp3.add(t0, t2);
      t0 = Fp3.mul(t0, t3);
      Y3 = Fp3.add(Y3, t0);
      t2 = Fp3.mul(Y1, Z1);
      t2 = Fp3.add(t2, t2);
      t0 = Fp3.mul(t2, t3);
      X3 = Fp3.sub(X3, t0);
      Z3 = Fp3.mul(t2, t1);
      Z3 = Fp3.add(Z3, Z3);
      Z3 = Fp3.add(Z3, Z3);
      return new Point(X3, Y3, Z3);
    }
    // Renes-Costello-Batina exception-free addition formula.
    // There is 30% faster Jacobian formula, but it is not complete.
    // https://eprint.iacr.org/2015/1060, algorithm 1
    // Cost: 12M + 0S + 3*a + 3*b3 + 23add.
    add(other) {
      aprjpoint(other);
      const { X: X1, Y: Y1, Z: Z1 } = this;
      const { X: X2, Y: Y2, Z: Z2 } = other;
      let X3 = Fp3.ZERO, Y3 = Fp3.ZERO, Z3 = Fp3.ZERO;
      const a = CURVE.a;
      const b3 = Fp3.mul(CURVE.b, _3n4);
      let t0 = Fp3.mul(X1, X2);
      let t1 = Fp3.mul(Y1, Y2);
      let t2 = Fp3.mul(Z1, Z2);
      let t3 = Fp3.add(X1, Y1);
      let t4 = Fp3.add(X2, Y2);
      t3 = Fp3.mul(t3, t4);
      t4 = Fp3.add(t0, t1);
      t3 = Fp3.sub(t3, t4);
      t4 = Fp3.add(X1, Z1);
      let t5 = Fp3.add(X2, Z2);
      t4 = Fp3.mul(t4, t5);
      t5 = Fp3.add(t0, t2);
      t4 = Fp3.sub(t4, t5);
      t5 = Fp3.add(Y1, Z1);
      X3 = Fp3.add(Y2, Z2);
      t5 = Fp3.mul(t5, X3);
      X3 = Fp3.add(t1, t2);
      t5 = Fp3.sub(t5, X3);
      Z3 = Fp3.mul(a, t4);
      X3 = Fp3.mul(b3, t2);
      Z3 = Fp3.add(X3, Z3);
      X3 = Fp3.sub(t1, Z3);
      Z3 = Fp3.add(t1, Z3);
      Y3 = Fp3.mul(X3, Z3);
      t1 = Fp3.add(t0, t0);
      t1 = Fp3.add(t1, t0);
      t2 = Fp3.mul(a, t2);
      t4 = Fp3.mul(b3, t4);
      t1 = Fp3.add(t1, t2);
      t2 = Fp3.sub(t0, t2);
      t2 = Fp3.mul(a, t2);
      t4 = Fp3.add(t4, t2);
      t0 = Fp3.mul(t1, t4);
      Y3 = Fp3.add(Y3, t0);
      t0 = Fp3.mul(t5, t4);
      X3 = Fp3.mul(t3, X3);
      X3 = Fp3.sub(X3, t0);
      t0 = Fp3.mul(t3, t1);
      Z3 = Fp3.mul(t5, Z3);
      Z3 = Fp3.add(Z3, t0);
      return new Point(X3, Y3, Z3);
    }
    subtract(other) {
      return this.add(other.negate());
    }
    is0() {
      return this.equals(Point.ZERO);
    }
    /**
     * Constant time multiplication.
     * Uses wNAF method. Windowed method may be 10% faster,
     * but takes 2x longer to generate and consumes 2x memory.
     * Uses precomputes when available.
     * Uses endomorphism for Koblitz curves.
     * @param scalar by which the point would be multiplied
     * @returns New point
     */
    multiply(scalar) {
      const { endo: endo2 } = extraOpts;
      if (!Fn3.isValidNot0(scalar))
        throw new Error("invalid scalar: out of range");
      let point, fake;
      const mul = (n) => wnaf.cached(this, n, (p) => normalizeZ(Point, p));
      if (endo2) {
        const { k1neg, k1, k2neg, k2 } = splitEndoScalarN(scalar);
        const { p: k1p, f: k1f } = mul(k1);
        const { p: k2p, f: k2f } = mul(k2);
        fake = k1f.add(k2f);
        point = finishEndo(endo2.beta, k1p, k2p, k1neg, k2neg);
      } else {
        const { p, f } = mul(scalar);
        point = p;
        fake = f;
      }
      return normalizeZ(Point, [point, fake])[0];
    }
    /**
     * Non-constant-time multiplication. Uses double-and-add algorithm.
     * It's faster, but should only be used when you don't care about
     * an exposed secret key e.g. sig verification, which works over *public* keys.
     */
    multiplyUnsafe(sc) {
      const { endo: endo2 } = extraOpts;
      const p = this;
      if (!Fn3.isValid(sc))
        throw new Error("invalid scalar: out of range");
      if (sc === _0n9 || p.is0())
        return Point.ZERO;
      if (sc === _1n10)
        return p;
      if (wnaf.hasCache(this))
        return this.multiply(sc);
      if (endo2) {
        const { k1neg, k1, k2neg, k2 } = splitEndoScalarN(sc);
        const { p1, p2 } = mulEndoUnsafe(Point, p, k1, k2);
        return finishEndo(endo2.beta, p1, p2, k1neg, k2neg);
      } else {
        return wnaf.unsafe(p, sc);
      }
    }
    /**
     * Converts Projective point to affine (x, y) coordinates.
     * @param invertedZ Z^-1 (inverted zero) - optional, precomputation is useful for invertBatch
     */
    toAffine(invertedZ) {
      return toAffineMemo(this, invertedZ);
    }
    /**
     * Checks whether Point is free of torsion elements (is in prime subgroup).
     * Always torsion-free for cofactor=1 curves.
     */
    isTorsionFree() {
      const { isTorsionFree } = extraOpts;
      if (cofactor === _1n10)
        return true;
      if (isTorsionFree)
        return isTorsionFree(Point, this);
      return wnaf.unsafe(this, CURVE_ORDER).is0();
    }
    clearCofactor() {
      const { clearCofactor } = extraOpts;
      if (cofactor === _1n10)
        return this;
      if (clearCofactor)
        return clearCofactor(Point, this);
      return this.multiplyUnsafe(cofactor);
    }
    isSmallOrder() {
      return this.multiplyUnsafe(cofactor).is0();
    }
    toBytes(isCompressed = true) {
      abool2(isCompressed, "isCompressed");
      this.assertValidity();
      return encodePoint(Point, this, isCompressed);
    }
    toHex(isCompressed = true) {
      return bytesToHex2(this.toBytes(isCompressed));
    }
    toString() {
      return `<Point ${this.is0() ? "ZERO" : this.toHex()}>`;
    }
  }
  const bits = Fn3.BITS;
  const wnaf = new wNAF(Point, extraOpts.endo ? Math.ceil(bits / 2) : bits);
  Point.BASE.precompute(8);
  return Point;
}
function pprefix(hasEvenY) {
  return Uint8Array.of(hasEvenY ? 2 : 3);
}
function SWUFpSqrtRatio(Fp3, Z) {
  const q = Fp3.ORDER;
  let l = _0n9;
  for (let o = q - _1n10; o % _2n8 === _0n9; o /= _2n8)
    l += _1n10;
  const c1 = l;
  const _2n_pow_c1_1 = _2n8 << c1 - _1n10 - _1n10;
  const _2n_pow_c1 = _2n_pow_c1_1 * _2n8;
  const c2 = (q - _1n10) / _2n_pow_c1;
  const c3 = (c2 - _1n10) / _2n8;
  const c4 = _2n_pow_c1 - _1n10;
  const c5 = _2n_pow_c1_1;
  const c6 = Fp3.pow(Z, c2);
  const c7 = Fp3.pow(Z, (c2 + _1n10) / _2n8);
  let sqrtRatio = (u, v) => {
    let tv1 = c6;
    let tv2 = Fp3.pow(v, c4);
    let tv3 = Fp3.sqr(tv2);
    tv3 = Fp3.mul(tv3, v);
    let tv5 = Fp3.mul(u, tv3);
    tv5 = Fp3.pow(tv5, c3);
    tv5 = Fp3.mul(tv5, tv2);
    tv2 = Fp3.mul(tv5, v);
    tv3 = Fp3.mul(tv5, u);
    let tv4 = Fp3.mul(tv3, tv2);
    tv5 = Fp3.pow(tv4, c5);
    let isQR = Fp3.eql(tv5, Fp3.ONE);
    tv2 = Fp3.mul(tv3, c7);
    tv5 = Fp3.mul(tv4, tv1);
    tv3 = Fp3.cmov(tv2, tv3, isQR);
    tv4 = Fp3.cmov(tv5, tv4, isQR);
    for (let i = c1; i > _1n10; i--) {
      let tv52 = i - _2n8;
      tv52 = _2n8 << tv52 - _1n10;
      let tvv5 = Fp3.pow(tv4, tv52);
      const e1 = Fp3.eql(tvv5, Fp3.ONE);
      tv2 = Fp3.mul(tv3, tv1);
      tv1 = Fp3.mul(tv1, tv1);
      tvv5 = Fp3.mul(tv4, tv1);
      tv3 = Fp3.cmov(tv2, tv3, e1);
      tv4 = Fp3.cmov(tvv5, tv4, e1);
    }
    return { isValid: isQR, value: tv3 };
  };
  if (Fp3.ORDER % _4n3 === _3n4) {
    const c12 = (Fp3.ORDER - _3n4) / _4n3;
    const c22 = Fp3.sqrt(Fp3.neg(Z));
    sqrtRatio = (u, v) => {
      let tv1 = Fp3.sqr(v);
      const tv2 = Fp3.mul(u, v);
      tv1 = Fp3.mul(tv1, tv2);
      let y1 = Fp3.pow(tv1, c12);
      y1 = Fp3.mul(y1, tv2);
      const y2 = Fp3.mul(y1, c22);
      const tv3 = Fp3.mul(Fp3.sqr(y1), v);
      const isQR = Fp3.eql(tv3, u);
      let y = Fp3.cmov(y2, y1, isQR);
      return { isValid: isQR, value: y };
    };
  }
  return sqrtRatio;
}
function mapToCurveSimpleSWU(Fp3, opts) {
  validateField(Fp3);
  const { A, B, Z } = opts;
  if (!Fp3.isValid(A) || !Fp3.isValid(B) || !Fp3.isValid(Z))
    throw new Error("mapToCurveSimpleSWU: invalid opts");
  const sqrtRatio = SWUFpSqrtRatio(Fp3, Z);
  if (!Fp3.isOdd)
    throw new Error("Field does not have .isOdd()");
  return (u) => {
    let tv1, tv2, tv3, tv4, tv5, tv6, x, y;
    tv1 = Fp3.sqr(u);
    tv1 = Fp3.mul(tv1, Z);
    tv2 = Fp3.sqr(tv1);
    tv2 = Fp3.add(tv2, tv1);
    tv3 = Fp3.add(tv2, Fp3.ONE);
    tv3 = Fp3.mul(tv3, B);
    tv4 = Fp3.cmov(Z, Fp3.neg(tv2), !Fp3.eql(tv2, Fp3.ZERO));
    tv4 = Fp3.mul(tv4, A);
    tv2 = Fp3.sqr(tv3);
    tv6 = Fp3.sqr(tv4);
    tv5 = Fp3.mul(tv6, A);
    tv2 = Fp3.add(tv2, tv5);
    tv2 = Fp3.mul(tv2, tv3);
    tv6 = Fp3.mul(tv6, tv4);
    tv5 = Fp3.mul(tv6, B);
    tv2 = Fp3.add(tv2, tv5);
    x = Fp3.mul(tv1, tv3);
    const { isValid, value } = sqrtRatio(tv2, tv6);
    y = Fp3.mul(tv1, u);
    y = Fp3.mul(y, value);
    x = Fp3.cmov(x, tv3, isValid);
    y = Fp3.cmov(y, value, isValid);
    const e1 = Fp3.isOdd(u) === Fp3.isOdd(y);
    y = Fp3.cmov(Fp3.neg(y), y, e1);
    const tv4_inv = FpInvertBatch(Fp3, [tv4], true)[0];
    x = Fp3.mul(x, tv4_inv);
    return { x, y };
  };
}
function getWLengths(Fp3, Fn3) {
  return {
    secretKey: Fn3.BYTES,
    publicKey: 1 + Fp3.BYTES,
    publicKeyUncompressed: 1 + 2 * Fp3.BYTES,
    publicKeyHasPrefix: true,
    signature: 2 * Fn3.BYTES
  };
}
function ecdh(Point, ecdhOpts = {}) {
  const { Fn: Fn3 } = Point;
  const randomBytes_ = ecdhOpts.randomBytes || randomBytes3;
  const lengths = Object.assign(getWLengths(Point.Fp, Fn3), { seed: getMinHashLength(Fn3.ORDER) });
  function isValidSecretKey(secretKey) {
    try {
      const num = Fn3.fromBytes(secretKey);
      return Fn3.isValidNot0(num);
    } catch (error) {
      return false;
    }
  }
  function isValidPublicKey(publicKey, isCompressed) {
    const { publicKey: comp, publicKeyUncompressed } = lengths;
    try {
      const l = publicKey.length;
      if (isCompressed === true && l !== comp)
        return false;
      if (isCompressed === false && l !== publicKeyUncompressed)
        return false;
      return !!Point.fromBytes(publicKey);
    } catch (error) {
      return false;
    }
  }
  function randomSecretKey(seed = randomBytes_(lengths.seed)) {
    return mapHashToField(abytes3(seed, lengths.seed, "seed"), Fn3.ORDER);
  }
  function getPublicKey(secretKey, isCompressed = true) {
    return Point.BASE.multiply(Fn3.fromBytes(secretKey)).toBytes(isCompressed);
  }
  function isProbPub(item) {
    const { secretKey, publicKey, publicKeyUncompressed } = lengths;
    if (!isBytes3(item))
      return void 0;
    if ("_lengths" in Fn3 && Fn3._lengths || secretKey === publicKey)
      return void 0;
    const l = abytes3(item, void 0, "key").length;
    return l === publicKey || l === publicKeyUncompressed;
  }
  function getSharedSecret(secretKeyA, publicKeyB, isCompressed = true) {
    if (isProbPub(secretKeyA) === true)
      throw new Error("first arg must be private key");
    if (isProbPub(publicKeyB) === false)
      throw new Error("second arg must be public key");
    const s = Fn3.fromBytes(secretKeyA);
    const b = Point.fromBytes(publicKeyB);
    return b.multiply(s).toBytes(isCompressed);
  }
  const utils = {
    isValidSecretKey,
    isValidPublicKey,
    randomSecretKey
  };
  const keygen = createKeygen2(randomSecretKey, getPublicKey);
  return Object.freeze({ getPublicKey, getSharedSecret, keygen, Point, utils, lengths });
}
function ecdsa(Point, hash, ecdsaOpts = {}) {
  ahash2(hash);
  validateObject2(ecdsaOpts, {}, {
    hmac: "function",
    lowS: "boolean",
    randomBytes: "function",
    bits2int: "function",
    bits2int_modN: "function"
  });
  ecdsaOpts = Object.assign({}, ecdsaOpts);
  const randomBytes4 = ecdsaOpts.randomBytes || randomBytes3;
  const hmac3 = ecdsaOpts.hmac || ((key, msg) => hmac2(hash, key, msg));
  const { Fp: Fp3, Fn: Fn3 } = Point;
  const { ORDER: CURVE_ORDER, BITS: fnBits } = Fn3;
  const { keygen, getPublicKey, getSharedSecret, utils, lengths } = ecdh(Point, ecdsaOpts);
  const defaultSigOpts = {
    prehash: true,
    lowS: typeof ecdsaOpts.lowS === "boolean" ? ecdsaOpts.lowS : true,
    format: "compact",
    extraEntropy: false
  };
  const hasLargeCofactor = CURVE_ORDER * _2n8 < Fp3.ORDER;
  function isBiggerThanHalfOrder(number) {
    const HALF = CURVE_ORDER >> _1n10;
    return number > HALF;
  }
  function validateRS(title, num) {
    if (!Fn3.isValidNot0(num))
      throw new Error(`invalid signature ${title}: out of range 1..Point.Fn.ORDER`);
    return num;
  }
  function assertSmallCofactor() {
    if (hasLargeCofactor)
      throw new Error('"recovered" sig type is not supported for cofactor >2 curves');
  }
  function validateSigLength(bytes, format) {
    validateSigFormat(format);
    const size = lengths.signature;
    const sizer = format === "compact" ? size : format === "recovered" ? size + 1 : void 0;
    return abytes3(bytes, sizer);
  }
  class Signature {
    r;
    s;
    recovery;
    constructor(r, s, recovery) {
      this.r = validateRS("r", r);
      this.s = validateRS("s", s);
      if (recovery != null) {
        assertSmallCofactor();
        if (![0, 1, 2, 3].includes(recovery))
          throw new Error("invalid recovery id");
        this.recovery = recovery;
      }
      Object.freeze(this);
    }
    static fromBytes(bytes, format = defaultSigOpts.format) {
      validateSigLength(bytes, format);
      let recid;
      if (format === "der") {
        const { r: r2, s: s2 } = DER.toSig(abytes3(bytes));
        return new Signature(r2, s2);
      }
      if (format === "recovered") {
        recid = bytes[0];
        format = "compact";
        bytes = bytes.subarray(1);
      }
      const L = lengths.signature / 2;
      const r = bytes.subarray(0, L);
      const s = bytes.subarray(L, L * 2);
      return new Signature(Fn3.fromBytes(r), Fn3.fromBytes(s), recid);
    }
    static fromHex(hex, format) {
      return this.fromBytes(hexToBytes2(hex), format);
    }
    assertRecovery() {
      const { recovery } = this;
      if (recovery == null)
        throw new Error("invalid recovery id: must be present");
      return recovery;
    }
    addRecoveryBit(recovery) {
      return new Signature(this.r, this.s, recovery);
    }
    recoverPublicKey(messageHash) {
      const { r, s } = this;
      const recovery = this.assertRecovery();
      const radj = recovery === 2 || recovery === 3 ? r + CURVE_ORDER : r;
      if (!Fp3.isValid(radj))
        throw new Error("invalid recovery id: sig.r+curve.n != R.x");
      const x = Fp3.toBytes(radj);
      const R = Point.fromBytes(concatBytes2(pprefix((recovery & 1) === 0), x));
      const ir = Fn3.inv(radj);
      const h2 = bits2int_modN(abytes3(messageHash, void 0, "msgHash"));
      const u1 = Fn3.create(-h2 * ir);
      const u2 = Fn3.create(s * ir);
      const Q = Point.BASE.multiplyUnsafe(u1).add(R.multiplyUnsafe(u2));
      if (Q.is0())
        throw new Error("invalid recovery: point at infinify");
      Q.assertValidity();
      return Q;
    }
    // Signatures should be low-s, to prevent malleability.
    hasHighS() {
      return isBiggerThanHalfOrder(this.s);
    }
    toBytes(format = defaultSigOpts.format) {
      validateSigFormat(format);
      if (format === "der")
        return hexToBytes2(DER.hexFromSig(this));
      const { r, s } = this;
      const rb = Fn3.toBytes(r);
      const sb = Fn3.toBytes(s);
      if (format === "recovered") {
        assertSmallCofactor();
        return concatBytes2(Uint8Array.of(this.assertRecovery()), rb, sb);
      }
      return concatBytes2(rb, sb);
    }
    toHex(format) {
      return bytesToHex2(this.toBytes(format));
    }
  }
  const bits2int = ecdsaOpts.bits2int || function bits2int_def(bytes) {
    if (bytes.length > 8192)
      throw new Error("input is too large");
    const num = bytesToNumberBE(bytes);
    const delta = bytes.length * 8 - fnBits;
    return delta > 0 ? num >> BigInt(delta) : num;
  };
  const bits2int_modN = ecdsaOpts.bits2int_modN || function bits2int_modN_def(bytes) {
    return Fn3.create(bits2int(bytes));
  };
  const ORDER_MASK = bitMask(fnBits);
  function int2octets(num) {
    aInRange2("num < 2^" + fnBits, num, _0n9, ORDER_MASK);
    return Fn3.toBytes(num);
  }
  function validateMsgAndHash(message, prehash) {
    abytes3(message, void 0, "message");
    return prehash ? abytes3(hash(message), void 0, "prehashed message") : message;
  }
  function prepSig(message, secretKey, opts) {
    const { lowS, prehash, extraEntropy } = validateSigOpts(opts, defaultSigOpts);
    message = validateMsgAndHash(message, prehash);
    const h1int = bits2int_modN(message);
    const d = Fn3.fromBytes(secretKey);
    if (!Fn3.isValidNot0(d))
      throw new Error("invalid private key");
    const seedArgs = [int2octets(d), int2octets(h1int)];
    if (extraEntropy != null && extraEntropy !== false) {
      const e = extraEntropy === true ? randomBytes4(lengths.secretKey) : extraEntropy;
      seedArgs.push(abytes3(e, void 0, "extraEntropy"));
    }
    const seed = concatBytes2(...seedArgs);
    const m = h1int;
    function k2sig(kBytes) {
      const k = bits2int(kBytes);
      if (!Fn3.isValidNot0(k))
        return;
      const ik = Fn3.inv(k);
      const q = Point.BASE.multiply(k).toAffine();
      const r = Fn3.create(q.x);
      if (r === _0n9)
        return;
      const s = Fn3.create(ik * Fn3.create(m + r * d));
      if (s === _0n9)
        return;
      let recovery = (q.x === r ? 0 : 2) | Number(q.y & _1n10);
      let normS = s;
      if (lowS && isBiggerThanHalfOrder(s)) {
        normS = Fn3.neg(s);
        recovery ^= 1;
      }
      return new Signature(r, normS, hasLargeCofactor ? void 0 : recovery);
    }
    return { seed, k2sig };
  }
  function sign(message, secretKey, opts = {}) {
    const { seed, k2sig } = prepSig(message, secretKey, opts);
    const drbg = createHmacDrbg(hash.outputLen, Fn3.BYTES, hmac3);
    const sig = drbg(seed, k2sig);
    return sig.toBytes(opts.format);
  }
  function verify(signature, message, publicKey, opts = {}) {
    const { lowS, prehash, format } = validateSigOpts(opts, defaultSigOpts);
    publicKey = abytes3(publicKey, void 0, "publicKey");
    message = validateMsgAndHash(message, prehash);
    if (!isBytes3(signature)) {
      const end = signature instanceof Signature ? ", use sig.toBytes()" : "";
      throw new Error("verify expects Uint8Array signature" + end);
    }
    validateSigLength(signature, format);
    try {
      const sig = Signature.fromBytes(signature, format);
      const P = Point.fromBytes(publicKey);
      if (lowS && sig.hasHighS())
        return false;
      const { r, s } = sig;
      const h2 = bits2int_modN(message);
      const is = Fn3.inv(s);
      const u1 = Fn3.create(h2 * is);
      const u2 = Fn3.create(r * is);
      const R = Point.BASE.multiplyUnsafe(u1).add(P.multiplyUnsafe(u2));
      if (R.is0())
        return false;
      const v = Fn3.create(R.x);
      return v === r;
    } catch (e) {
      return false;
    }
  }
  function recoverPublicKey(signature, message, opts = {}) {
    const { prehash } = validateSigOpts(opts, defaultSigOpts);
    message = validateMsgAndHash(message, prehash);
    return Signature.fromBytes(signature, "recovered").recoverPublicKey(message).toBytes();
  }
  return Object.freeze({
    keygen,
    getPublicKey,
    getSharedSecret,
    utils,
    lengths,
    Point,
    sign,
    verify,
    recoverPublicKey,
    Signature,
    hash
  });
}
var divNearest, DERErr, DER, _0n9, _1n10, _2n8, _3n4, _4n3;
var init_weierstrass = __esm({
  "../typescript/node_modules/@noble/curves/abstract/weierstrass.js"() {
    init_hmac();
    init_utils2();
    init_utils3();
    init_curve();
    init_modular();
    divNearest = (num, den) => (num + (num >= 0 ? den : -den) / _2n8) / den;
    DERErr = class extends Error {
      constructor(m = "") {
        super(m);
      }
    };
    DER = {
      // asn.1 DER encoding utils
      Err: DERErr,
      // Basic building block is TLV (Tag-Length-Value)
      _tlv: {
        encode: (tag, data) => {
          const { Err: E } = DER;
          if (tag < 0 || tag > 256)
            throw new E("tlv.encode: wrong tag");
          if (data.length & 1)
            throw new E("tlv.encode: unpadded data");
          const dataLen = data.length / 2;
          const len = numberToHexUnpadded(dataLen);
          if (len.length / 2 & 128)
            throw new E("tlv.encode: long form length too big");
          const lenLen = dataLen > 127 ? numberToHexUnpadded(len.length / 2 | 128) : "";
          const t = numberToHexUnpadded(tag);
          return t + lenLen + len + data;
        },
        // v - value, l - left bytes (unparsed)
        decode(tag, data) {
          const { Err: E } = DER;
          let pos = 0;
          if (tag < 0 || tag > 256)
            throw new E("tlv.encode: wrong tag");
          if (data.length < 2 || data[pos++] !== tag)
            throw new E("tlv.decode: wrong tlv");
          const first = data[pos++];
          const isLong = !!(first & 128);
          let length = 0;
          if (!isLong)
            length = first;
          else {
            const lenLen = first & 127;
            if (!lenLen)
              throw new E("tlv.decode(long): indefinite length not supported");
            if (lenLen > 4)
              throw new E("tlv.decode(long): byte length is too big");
            const lengthBytes = data.subarray(pos, pos + lenLen);
            if (lengthBytes.length !== lenLen)
              throw new E("tlv.decode: length bytes not complete");
            if (lengthBytes[0] === 0)
              throw new E("tlv.decode(long): zero leftmost byte");
            for (const b of lengthBytes)
              length = length << 8 | b;
            pos += lenLen;
            if (length < 128)
              throw new E("tlv.decode(long): not minimal encoding");
          }
          const v = data.subarray(pos, pos + length);
          if (v.length !== length)
            throw new E("tlv.decode: wrong value length");
          return { v, l: data.subarray(pos + length) };
        }
      },
      // https://crypto.stackexchange.com/a/57734 Leftmost bit of first byte is 'negative' flag,
      // since we always use positive integers here. It must always be empty:
      // - add zero byte if exists
      // - if next byte doesn't have a flag, leading zero is not allowed (minimal encoding)
      _int: {
        encode(num) {
          const { Err: E } = DER;
          if (num < _0n9)
            throw new E("integer: negative integers are not allowed");
          let hex = numberToHexUnpadded(num);
          if (Number.parseInt(hex[0], 16) & 8)
            hex = "00" + hex;
          if (hex.length & 1)
            throw new E("unexpected DER parsing assertion: unpadded hex");
          return hex;
        },
        decode(data) {
          const { Err: E } = DER;
          if (data[0] & 128)
            throw new E("invalid signature integer: negative");
          if (data[0] === 0 && !(data[1] & 128))
            throw new E("invalid signature integer: unnecessary leading zero");
          return bytesToNumberBE(data);
        }
      },
      toSig(bytes) {
        const { Err: E, _int: int, _tlv: tlv } = DER;
        const data = abytes3(bytes, void 0, "signature");
        const { v: seqBytes, l: seqLeftBytes } = tlv.decode(48, data);
        if (seqLeftBytes.length)
          throw new E("invalid signature: left bytes after parsing");
        const { v: rBytes, l: rLeftBytes } = tlv.decode(2, seqBytes);
        const { v: sBytes, l: sLeftBytes } = tlv.decode(2, rLeftBytes);
        if (sLeftBytes.length)
          throw new E("invalid signature: left bytes after parsing");
        return { r: int.decode(rBytes), s: int.decode(sBytes) };
      },
      hexFromSig(sig) {
        const { _tlv: tlv, _int: int } = DER;
        const rs = tlv.encode(2, int.encode(sig.r));
        const ss = tlv.encode(2, int.encode(sig.s));
        const seq = rs + ss;
        return tlv.encode(48, seq);
      }
    };
    _0n9 = BigInt(0);
    _1n10 = BigInt(1);
    _2n8 = BigInt(2);
    _3n4 = BigInt(3);
    _4n3 = BigInt(4);
  }
});

// ../typescript/node_modules/@noble/curves/nist.js
var nist_exports = {};
__export(nist_exports, {
  p256: () => p256,
  p256_hasher: () => p256_hasher,
  p256_oprf: () => p256_oprf,
  p384: () => p384,
  p384_hasher: () => p384_hasher,
  p384_oprf: () => p384_oprf,
  p521: () => p521,
  p521_hasher: () => p521_hasher,
  p521_oprf: () => p521_oprf
});
function createSWU(Point, opts) {
  const map = mapToCurveSimpleSWU(Point.Fp, opts);
  return (scalars) => map(scalars[0]);
}
var p256_CURVE, p384_CURVE, p521_CURVE, p256_Point, p256, p256_hasher, p256_oprf, p384_Point, p384, p384_hasher, p384_oprf, Fn521, p521_Point, p521, p521_hasher, p521_oprf;
var init_nist = __esm({
  "../typescript/node_modules/@noble/curves/nist.js"() {
    init_sha2();
    init_hash_to_curve();
    init_modular();
    init_oprf();
    init_weierstrass();
    p256_CURVE = /* @__PURE__ */ (() => ({
      p: BigInt("0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff"),
      n: BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"),
      h: BigInt(1),
      a: BigInt("0xffffffff00000001000000000000000000000000fffffffffffffffffffffffc"),
      b: BigInt("0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b"),
      Gx: BigInt("0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"),
      Gy: BigInt("0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")
    }))();
    p384_CURVE = /* @__PURE__ */ (() => ({
      p: BigInt("0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff"),
      n: BigInt("0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973"),
      h: BigInt(1),
      a: BigInt("0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000fffffffc"),
      b: BigInt("0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef"),
      Gx: BigInt("0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7"),
      Gy: BigInt("0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f")
    }))();
    p521_CURVE = /* @__PURE__ */ (() => ({
      p: BigInt("0x1ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
      n: BigInt("0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409"),
      h: BigInt(1),
      a: BigInt("0x1fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffc"),
      b: BigInt("0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00"),
      Gx: BigInt("0x00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66"),
      Gy: BigInt("0x011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650")
    }))();
    p256_Point = /* @__PURE__ */ weierstrass(p256_CURVE);
    p256 = /* @__PURE__ */ ecdsa(p256_Point, sha2562);
    p256_hasher = /* @__PURE__ */ (() => {
      return createHasher3(p256_Point, createSWU(p256_Point, {
        A: p256_CURVE.a,
        B: p256_CURVE.b,
        Z: p256_Point.Fp.create(BigInt("-10"))
      }), {
        DST: "P256_XMD:SHA-256_SSWU_RO_",
        encodeDST: "P256_XMD:SHA-256_SSWU_NU_",
        p: p256_CURVE.p,
        m: 1,
        k: 128,
        expand: "xmd",
        hash: sha2562
      });
    })();
    p256_oprf = /* @__PURE__ */ (() => createORPF({
      name: "P256-SHA256",
      Point: p256_Point,
      hash: sha2562,
      hashToGroup: p256_hasher.hashToCurve,
      hashToScalar: p256_hasher.hashToScalar
    }))();
    p384_Point = /* @__PURE__ */ weierstrass(p384_CURVE);
    p384 = /* @__PURE__ */ ecdsa(p384_Point, sha3842);
    p384_hasher = /* @__PURE__ */ (() => {
      return createHasher3(p384_Point, createSWU(p384_Point, {
        A: p384_CURVE.a,
        B: p384_CURVE.b,
        Z: p384_Point.Fp.create(BigInt("-12"))
      }), {
        DST: "P384_XMD:SHA-384_SSWU_RO_",
        encodeDST: "P384_XMD:SHA-384_SSWU_NU_",
        p: p384_CURVE.p,
        m: 1,
        k: 192,
        expand: "xmd",
        hash: sha3842
      });
    })();
    p384_oprf = /* @__PURE__ */ (() => createORPF({
      name: "P384-SHA384",
      Point: p384_Point,
      hash: sha3842,
      hashToGroup: p384_hasher.hashToCurve,
      hashToScalar: p384_hasher.hashToScalar
    }))();
    Fn521 = /* @__PURE__ */ (() => Field(p521_CURVE.n, { allowedLengths: [65, 66] }))();
    p521_Point = /* @__PURE__ */ weierstrass(p521_CURVE, { Fn: Fn521 });
    p521 = /* @__PURE__ */ ecdsa(p521_Point, sha5122);
    p521_hasher = /* @__PURE__ */ (() => {
      return createHasher3(p521_Point, createSWU(p521_Point, {
        A: p521_CURVE.a,
        B: p521_CURVE.b,
        Z: p521_Point.Fp.create(BigInt("-4"))
      }), {
        DST: "P521_XMD:SHA-512_SSWU_RO_",
        encodeDST: "P521_XMD:SHA-512_SSWU_NU_",
        p: p521_CURVE.p,
        m: 1,
        k: 256,
        expand: "xmd",
        hash: sha5122
      });
    })();
    p521_oprf = /* @__PURE__ */ (() => createORPF({
      name: "P521-SHA512",
      Point: p521_Point,
      hash: sha5122,
      hashToGroup: p521_hasher.hashToCurve,
      hashToScalar: p521_hasher.hashToScalar
      // produces L=98 just like in RFC
    }))();
  }
});

// ../typescript/src/token.ts
function readClaims(token) {
  const part = token.split(".")[1];
  if (part === void 0) return {};
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "=")), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof claims !== "object" || claims === null) return {};
    const { sub, exp } = claims;
    const out = {};
    if (typeof sub === "string") out.sub = sub;
    if (typeof exp === "number") out.exp = exp;
    return out;
  } catch {
    return {};
  }
}
function withToken(url, token) {
  const u = new URL(url);
  u.searchParams.set("token", token);
  return u.toString();
}
function handshakeUrl(url, token) {
  const u = new URL(withToken(url, token));
  u.searchParams.set("batch", "1");
  return u.toString();
}

// ../typescript/src/backoff.ts
var Backoff = class {
  #initial;
  #max;
  #multiplier;
  #random;
  #attempt = 0;
  /** @param random a source of numbers in [0, 1); tests pass a fixed one. */
  constructor(options = {}, random = Math.random) {
    this.#initial = options.initialDelayMs ?? 500;
    this.#max = options.maxDelayMs ?? 3e4;
    this.#multiplier = options.multiplier ?? 2;
    if (!(this.#initial >= 0 && this.#max >= 0 && this.#multiplier >= 1)) {
      throw new RangeError("backoff: delays must be ≥ 0 and the multiplier ≥ 1");
    }
    this.#random = random;
  }
  /** How many times the ceiling grew since the last {@link reset}. */
  get attempts() {
    return this.#attempt;
  }
  /** The ceiling of the next delay. */
  ceiling() {
    if (this.#initial === 0) return 0;
    const raw = this.#initial * this.#multiplier ** this.#attempt;
    return Number.isFinite(raw) ? Math.min(this.#max, raw) : this.#max;
  }
  /** The delay before the next attempt; each call counts as one attempt. */
  next() {
    const delay = Math.floor(this.#random() * this.ceiling());
    if (this.#initial > 0 && this.ceiling() < this.#max) this.#attempt += 1;
    return delay;
  }
  /** Back to the first, shortest delay: after a connection proved stable. */
  reset() {
    this.#attempt = 0;
  }
};

// ../typescript/src/generated/protocol.ts
var ERROR_CODES = ["bad_request", "unknown_action", "too_large", "unauthorized", "forbidden", "not_found", "rate_limited", "rejected", "conflict", "internal"];
var LIMITS = {
  /** `send.body`: at most this many bytes of UTF-8 (16 KiB). */
  maxBodyLength: 16384,
  /** `clientMsgId`: at most this many characters. */
  maxClientMsgIdLength: 64,
  /** A room id: at most this many characters. */
  maxRoomIdLength: 64,
  /** A room id matches this regular expression. */
  roomIdPattern: "^[A-Za-z0-9_.:-]{1,64}$",
  /** Rooms in one `sync` request. */
  maxSyncRooms: 50,
  /** `history.limit` at most. */
  maxHistoryLimit: 100
};

// ../typescript/src/errors.ts
var StarlingError = class extends Error {
  /** The error code: the server's, or the SDK's own. */
  code;
  /** The request's `action`, when known. */
  action;
  /** For `send`: the message's `clientMsgId`. */
  clientMsgId;
  /** For `rate_limited`: when the same request is admitted, in milliseconds. */
  retryAfterMs;
  /** For `rejected`: why moderation refused the message. Do not resend the same body. */
  reason;
  /** `true` when the SDK refused the request without sending it. */
  local;
  constructor(code, message, init = {}) {
    super(message);
    this.name = "StarlingError";
    this.code = code;
    this.action = init.action;
    this.clientMsgId = init.clientMsgId;
    this.retryAfterMs = init.retryAfterMs;
    this.reason = init.reason;
    this.local = init.local ?? false;
  }
};
function errorFromFrame(frame) {
  const code = ERROR_CODES.includes(frame.code) ? frame.code : "internal";
  const init = {};
  if (frame.action !== void 0) init.action = frame.action;
  if (frame.clientMsgId !== void 0) init.clientMsgId = frame.clientMsgId;
  if (frame.retryAfterMs !== void 0) init.retryAfterMs = frame.retryAfterMs;
  if (frame.reason !== void 0) init.reason = frame.reason;
  return new StarlingError(code, frame.message, init);
}
function isRetryable(code) {
  return code === "rate_limited" || code === "internal" || code === "timeout";
}

// ../typescript/src/requests.ts
var LinkLostError = class extends Error {
  constructor() {
    super("the connection closed before the reply came");
    this.name = "LinkLostError";
  }
};
var PendingRequests = class {
  #pending = [];
  /** How many requests wait. */
  get size() {
    return this.#pending.length;
  }
  /** Waits for the reply to `request` (already sent), matched by `matches`, for at most `timeoutMs`. */
  add(request, matches, timeoutMs) {
    return new Promise((resolve, reject) => {
      const entry = {
        request,
        matches,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#remove(entry);
          reject(new StarlingError("timeout", `no reply to ${request.action} within ${timeoutMs} ms`, { action: request.action }));
        }, timeoutMs)
      };
      this.#pending.push(entry);
    });
  }
  /** Settles the request `frame` answers; `false` when it answers none. */
  handle(frame) {
    if (frame.type === "error") return this.#refuse(frame);
    const entry = this.#pending.find((p) => p.matches(frame));
    if (entry === void 0) return false;
    this.#remove(entry);
    entry.resolve(frame);
    return true;
  }
  /** A frame without `type` (API Gateway's integration error): the oldest request failed with `internal`. */
  failOldest() {
    const entry = this.#pending[0];
    if (entry === void 0) return false;
    this.#remove(entry);
    entry.reject(new StarlingError("internal", "the server failed to handle the request", { action: entry.request.action }));
    return true;
  }
  /** Rejects every request with `error` (the link closed). */
  failAll(error) {
    for (const entry of this.#pending.splice(0)) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
  }
  #refuse(frame) {
    const entry = this.#pending.find((p) => p.request.action === frame.action);
    if (entry === void 0) return false;
    this.#remove(entry);
    entry.reject(errorFromFrame(frame));
    return true;
  }
  #remove(entry) {
    clearTimeout(entry.timer);
    const at = this.#pending.indexOf(entry);
    if (at >= 0) this.#pending.splice(at, 1);
  }
};

// ../typescript/src/session.ts
var Session = class {
  link;
  requests = new PendingRequests();
  /** Rooms this connection is subscribed to (their `joined` came on it). */
  joined = /* @__PURE__ */ new Set();
  /** Opened by a planned reconnect, while the previous connection still works. */
  planned;
  #syncs = [];
  #timers = /* @__PURE__ */ new Map();
  #drained;
  constructor(planned, makeLink) {
    this.planned = planned;
    this.link = makeLink(this);
  }
  /** Runs `fn` after `ms`, replacing the timer of the same name. */
  timer(name, ms, fn) {
    this.clearTimer(name);
    this.#timers.set(name, setTimeout(() => {
      this.#timers.delete(name);
      fn();
    }, ms));
  }
  /** Cancels the timer `name`. */
  clearTimer(name) {
    clearTimeout(this.#timers.get(name));
    this.#timers.delete(name);
  }
  /** Closes the connection (reported as closed at once). */
  end(code, reason) {
    this.link.close(code, reason);
  }
  /** The connection closed: fails its waiting requests with `error` and stops its timers. */
  closed(error) {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.requests.failAll(error);
  }
  /**
   * A newer connection took over: this one only finishes what it has out (`isIdle` tells when
   * nothing is), for at most `ms`, then closes.
   */
  drain(ms, isIdle) {
    for (const name of [...this.#timers.keys()]) this.clearTimer(name);
    this.#drained = isIdle;
    this.timer("drain", ms, () => this.end(1e3, "replaced by a newer connection"));
    this.maybeDrained();
  }
  /** Closes a draining connection once nothing is out on it. */
  maybeDrained() {
    if (this.#drained !== void 0 && this.requests.size === 0 && this.#drained()) this.end(1e3, "replaced by a newer connection");
  }
  /** Whether a `sync` sent on this connection waits for its `synced`s. */
  get syncing() {
    return this.#syncs.length > 0;
  }
  /** A `sync` of `rooms` went out on this connection. */
  syncSent(rooms) {
    this.#syncs.push(new Set(rooms));
  }
  /** The `synced` of `room` came. */
  syncDone(room) {
    const at = this.#syncs.findIndex((s) => s.has(room));
    if (at < 0) return;
    const set = this.#syncs[at];
    set?.delete(room);
    if (set?.size === 0) this.#syncs.splice(at, 1);
  }
  /**
   * An `error` answering a `sync`: a refused room's error starts with the room
   * (`"secret: join secret first"`); any other error failed the oldest request out.
   */
  syncFailed(message) {
    for (const set of this.#syncs) {
      for (const room of set) {
        if (message.startsWith(`${room}:`)) {
          this.syncDone(room);
          return { refusedRoom: room, rooms: [] };
        }
      }
    }
    return { rooms: [...this.#syncs.shift() ?? []] };
  }
};

// ../typescript/src/transport.ts
var nextLinkId = 1;
var Link = class {
  /** A number unique in this process, for logs and tests. */
  id = nextLinkId++;
  /** When the handshake completed (ms since the epoch), or `undefined` before. */
  openedAt;
  /** When the client last sent a frame on it (ms since the epoch). */
  lastSentAt = 0;
  /** Whether the SDK closed it (so its close code says nothing about the server's reasons). */
  closedByClient = false;
  #socket;
  #events;
  #done = false;
  constructor(WebSocketCtor, url, events) {
    this.#events = events;
    this.#socket = new WebSocketCtor(url);
    this.#socket.addEventListener("open", () => {
      if (this.#done) return;
      this.openedAt = Date.now();
      this.lastSentAt = this.openedAt;
      this.#events.open(this);
    });
    this.#socket.addEventListener("message", (event) => {
      if (this.#done || typeof event.data !== "string") return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (typeof frame === "object" && frame !== null && !Array.isArray(frame)) {
        this.#events.frame(this, frame);
      }
    });
    this.#socket.addEventListener("close", (event) => this.#finish(event.code, event.reason));
    this.#socket.addEventListener("error", () => {
      if (this.#done) return;
      this.#finish(1006, "error");
      try {
        this.#socket.close();
      } catch {
      }
    });
  }
  /** Whether the handshake completed and the link is not closed. */
  get open() {
    return this.openedAt !== void 0 && !this.#done;
  }
  /** Whether the link is closed (by either side). */
  get closed() {
    return this.#done;
  }
  /** Sends one request; `false` when the link is not open. */
  send(request) {
    if (!this.open) return false;
    try {
      this.#socket.send(JSON.stringify(request));
    } catch {
      return false;
    }
    this.lastSentAt = Date.now();
    return true;
  }
  /**
   * Closes the link and reports the close at once (with `code`), without waiting for the
   * server's close frame: the SDK treats the link as gone from now on.
   */
  close(code = 1e3, reason = "") {
    if (!this.#done) this.closedByClient = true;
    try {
      this.#socket.close(code, reason);
    } catch {
    }
    this.#finish(code, reason);
  }
  #finish(code, reason) {
    if (this.#done) return;
    this.#done = true;
    this.#events.close(this, code, reason);
  }
};

// ../typescript/src/connection.ts
var Connection = class {
  #url;
  #tokenProvider;
  #options;
  #hooks;
  #backoff;
  #draining = /* @__PURE__ */ new Set();
  #waiting = [];
  #state = "connecting";
  #user;
  #active;
  #candidate;
  #authFailed = false;
  #attempt = 0;
  #retryTimer;
  #onOnline = () => this.#retryNow();
  constructor(url, tokenProvider, options, hooks) {
    this.#url = url;
    this.#tokenProvider = tokenProvider;
    this.#options = options;
    this.#hooks = hooks;
    this.#backoff = new Backoff(options.backoff, options.random);
    options.network?.addEventListener("online", this.#onOnline);
    queueMicrotask(() => void this.#open("connect"));
  }
  get state() {
    return this.#state;
  }
  /** The `sub` of the last token. */
  get user() {
    return this.#user;
  }
  /** The connection in use, if any. */
  get active() {
    return this.#active;
  }
  /** A connection being set up (first connect, reconnect, or the new one of a planned reconnect). */
  get candidate() {
    return this.#candidate;
  }
  /** The current ceiling of the reconnect delay: a sensible wait before retrying anything. */
  retryDelayMs() {
    return this.#backoff.ceiling();
  }
  /** Resolves with the active session once connected. */
  whenActive() {
    if (this.#state === "disconnected") return Promise.reject(new StarlingError("closed", "the client is closed", { local: true }));
    if (this.#active !== void 0 && this.#state === "connected") return Promise.resolve(this.#active);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }
  /** Starts a planned reconnect now (make-before-break). */
  replace() {
    if (this.#state === "connected" && this.#candidate === void 0) void this.#open("planned");
  }
  /** Closes everything for good. */
  close() {
    if (this.#state === "disconnected") return;
    this.#setState("disconnected");
    clearTimeout(this.#retryTimer);
    this.#options.network?.removeEventListener("online", this.#onOnline);
    for (const s of [this.#active, this.#candidate, ...this.#draining]) s?.end(1e3, "client closed");
    this.#active = void 0;
    this.#candidate = void 0;
    const closed = new StarlingError("closed", "the client was closed", { local: true });
    for (const w of this.#waiting.splice(0)) w.reject(closed);
  }
  async #open(reason) {
    if (this.#isClosed()) return;
    let token;
    try {
      token = await this.#tokenProvider({ reason, forceRefresh: this.#authFailed, attempt: this.#attempt });
    } catch (error) {
      this.#hooks.error(new StarlingError("unauthorized", `the token provider failed: ${String(error)}`, { local: true }));
      return this.#retry(reason, true);
    }
    if (this.#isClosed()) return;
    this.#user = readClaims(token).sub ?? this.#user;
    const session = new Session(
      reason === "planned",
      (s) => new Link(this.#options.WebSocket, handshakeUrl(this.#url, token), {
        open: () => void this.#establish(s),
        frame: (_, frame) => this.#hooks.frame(s, frame),
        close: (link, code) => this.#onClose(s, code, link.openedAt === void 0, link.closedByClient)
      })
    );
    this.#candidate = session;
    session.timer("connect", this.#options.connectTimeoutMs, () => session.end(1e3, "connect timeout"));
  }
  async #establish(session) {
    await this.#hooks.prepare(session);
    if (session.link.closed || this.#isClosed()) return;
    session.clearTimer("connect");
    const previous = this.#active;
    this.#active = session;
    this.#candidate = void 0;
    this.#authFailed = false;
    this.#attempt = 0;
    session.timer("stable", this.#options.stableAfterMs, () => this.#backoff.reset());
    const lifetime = this.#options.plannedReconnectMs - this.#options.random() * this.#options.plannedReconnectJitterMs;
    session.timer("planned", lifetime, () => this.replace());
    this.#armHeartbeat(session);
    this.#setState("connected");
    for (const w of this.#waiting.splice(0)) w.resolve(session);
    this.#hooks.activated(session, previous);
    if (previous !== void 0) {
      this.#draining.add(previous);
      previous.drain(this.#options.drainMs, () => this.#hooks.drained(previous, session));
    }
  }
  /** Lets draining sessions that finished their work close now. */
  checkDrained() {
    for (const old of this.#draining) old.maybeDrained();
  }
  #onClose(session, code, beforeOpen, byClient) {
    session.closed(new LinkLostError());
    const wasActive = session === this.#active;
    const wasCandidate = session === this.#candidate;
    if (wasActive) this.#active = void 0;
    if (wasCandidate) this.#candidate = void 0;
    this.#draining.delete(session);
    this.#hooks.closed(session);
    if (this.#isClosed()) return;
    if (beforeOpen || !byClient && (code === 1008 || code >= 4e3 && code < 5e3)) this.#authFailed = true;
    if (wasCandidate) {
      this.#retry(session.planned && this.#active !== void 0 ? "planned" : "reconnect", true);
    } else if (wasActive) {
      this.#setState("reconnecting", code);
      this.#retry("reconnect", false);
    }
  }
  /** The next attempt after a backoff delay; `failed` counts a failed attempt (a drop does not). */
  #retry(reason, failed) {
    if (this.#isClosed()) return;
    if (failed) this.#attempt += 1;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      if (reason === "planned") this.replace();
      else if (this.#active === void 0 && this.#candidate === void 0) void this.#open(this.#state === "connecting" ? "connect" : "reconnect");
    }, this.#backoff.next());
  }
  /** The network is back: a reconnect waiting out its backoff delay starts now. */
  #retryNow() {
    if (this.#isClosed() || this.#active !== void 0 || this.#candidate !== void 0) return;
    clearTimeout(this.#retryTimer);
    void this.#open(this.#state === "connecting" ? "connect" : "reconnect");
  }
  /** A `ping` when the client sent nothing for a heartbeat interval; no `pong` in time ends the connection. */
  #armHeartbeat(session) {
    const due = session.link.lastSentAt + this.#options.heartbeatIntervalMs - Date.now();
    session.timer("heartbeat", Math.max(0, due), () => {
      if (session !== this.#active) return;
      if (Date.now() - session.link.lastSentAt >= this.#options.heartbeatIntervalMs) {
        const ping = { action: "ping" };
        const pong = session.requests.add(ping, (f) => f.type === "pong", this.#options.heartbeatTimeoutMs);
        session.link.send(ping);
        pong.catch((error) => {
          if (error instanceof StarlingError && error.code === "timeout") session.end(1e3, "no pong");
        });
      }
      this.#armHeartbeat(session);
    });
  }
  #setState(state, code) {
    if (state === this.#state) return;
    const previous = this.#state;
    this.#state = state;
    this.#hooks.state(code === void 0 ? { state, previous } : { state, previous, code });
  }
  /** A method, so TypeScript does not narrow the state across an `await`. */
  #isClosed() {
    return this.#state === "disconnected";
  }
};

// ../typescript/src/events.ts
var Emitter = class {
  #listeners = /* @__PURE__ */ new Map();
  #onListenerError;
  constructor(onListenerError = (e) => queueMicrotask(() => {
    throw e;
  })) {
    this.#onListenerError = onListenerError;
  }
  /** Calls `listener` on every `event`; returns a function that removes it. */
  on(event, listener) {
    let set = this.#listeners.get(event);
    if (set === void 0) {
      set = /* @__PURE__ */ new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }
  /** Calls `listener` on the next `event` only. */
  once(event, listener) {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }
  /** Removes `listener`. */
  off(event, listener) {
    this.#listeners.get(event)?.delete(listener);
  }
  /** Calls every listener of `event` with `payload`. */
  emit(event, payload) {
    const set = this.#listeners.get(event);
    if (set === void 0) return;
    for (const listener of [...set]) {
      try {
        listener(payload);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }
  /** How many listeners `event` has. */
  listenerCount(event) {
    return this.#listeners.get(event)?.size ?? 0;
  }
};

// ../typescript/src/options.ts
function resolveOptions(options, defaultStore) {
  const WebSocketCtor = options.WebSocket ?? globalThis.WebSocket;
  if (WebSocketCtor === void 0) {
    throw new Error("no WebSocket here: use Node ≥ 22 (or node --experimental-websocket on Node 20), a browser, or pass options.WebSocket");
  }
  const resolved = {
    WebSocket: WebSocketCtor,
    store: options.store ?? defaultStore(),
    backoff: options.backoff ?? {},
    stableAfterMs: options.stableAfterMs ?? 1e4,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 3e5,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 3e4,
    connectTimeoutMs: options.connectTimeoutMs ?? 15e3,
    requestTimeoutMs: options.requestTimeoutMs ?? 3e4,
    plannedReconnectMs: options.plannedReconnectMs ?? 66e5,
    plannedReconnectJitterMs: options.plannedReconnectJitterMs ?? 3e5,
    drainMs: options.drainMs ?? 5e3,
    maxSendAttempts: options.maxSendAttempts ?? 10,
    gapHistoryLimit: options.gapHistoryLimit ?? 50,
    random: options.random ?? Math.random,
    network: options.network === void 0 ? browserNetwork() : options.network
  };
  if (resolved.heartbeatIntervalMs >= 6e5) throw new RangeError("heartbeatIntervalMs must be under API Gateway's 10-minute idle timeout");
  if (resolved.plannedReconnectMs >= 72e5) throw new RangeError("plannedReconnectMs must be under API Gateway's 2-hour connection limit");
  if (resolved.plannedReconnectJitterMs > resolved.plannedReconnectMs) throw new RangeError("plannedReconnectJitterMs exceeds plannedReconnectMs");
  if (resolved.gapHistoryLimit < 1 || resolved.gapHistoryLimit > 100) throw new RangeError("gapHistoryLimit is 1–100");
  return resolved;
}
function browserNetwork() {
  const g = globalThis;
  return typeof g.addEventListener === "function" && typeof g.removeEventListener === "function" ? globalThis : null;
}

// ../typescript/src/outbox.ts
var Outbox = class {
  #entries = [];
  #maxAttempts;
  /** @param maxAttempts sends of one message refused with a retryable code before its promise rejects. */
  constructor(maxAttempts) {
    this.#maxAttempts = maxAttempts;
  }
  /** Messages not yet accepted. */
  get size() {
    return this.#entries.length;
  }
  /** The messages not yet accepted, oldest first (read-only views). */
  pending() {
    return this.#entries.map(({ room, body, clientMsgId, attempts }) => ({ room, body, clientMsgId, attempts }));
  }
  /** Queues a message (with `extra` fields for the request); the promise settles when it is accepted or finally refused. */
  enqueue(room, body, clientMsgId, extra) {
    return new Promise((resolve, reject) => {
      this.#entries.push({ room, body, clientMsgId, extra, attempts: 0, inflight: void 0, notBefore: 0, resolve, reject });
    });
  }
  /** Rooms with messages waiting. */
  rooms() {
    return new Set(this.#entries.map((e) => e.room));
  }
  /**
   * The room's next message to send now, or `undefined`: when one is already out, or the
   * oldest must wait (`notBefore`). Returns the wait as `retryAt` through {@link nextRetryAt}.
   */
  next(room, now) {
    const head = this.#entries.find((e) => e.room === room);
    if (head === void 0 || head.inflight !== void 0 || head.notBefore > now) return void 0;
    return head;
  }
  /** The earliest `notBefore` in the future, to wake up for. */
  nextRetryAt(now) {
    let at;
    for (const e of this.#entries) if (e.inflight === void 0 && e.notBefore > now && (at === void 0 || e.notBefore < at)) at = e.notBefore;
    return at;
  }
  /** The request for `entry`, marked as out on `link`. */
  sent(entry, link) {
    entry.inflight = link;
    entry.attempts += 1;
    return { ...entry.extra, action: "send", room: entry.room, body: entry.body, clientMsgId: entry.clientMsgId };
  }
  /** An `accepted` frame: resolves its message. `false` when none waits for it. */
  accepted(frame) {
    const entry = this.#entries.find((e) => e.clientMsgId === frame.clientMsgId && e.room === frame.room && e.inflight !== void 0);
    if (entry === void 0) return false;
    this.#remove(entry);
    entry.resolve({ room: entry.room, clientMsgId: entry.clientMsgId, id: frame.id, attempts: entry.attempts });
    return true;
  }
  /**
   * An `error` for a send out on `link`, matched by `clientMsgId` (or, when the server left it
   * out, the oldest one out). Retryable codes queue it again after `retryAfterMs` (or
   * `fallbackDelayMs`), up to the attempt limit; any other code rejects it.
   */
  refused(error, link, now, fallbackDelayMs) {
    const out = this.#entries.filter((e) => e.inflight === link);
    const entry = out.find((e) => e.clientMsgId === error.clientMsgId) ?? (error.clientMsgId === void 0 ? out[0] : void 0);
    if (entry === void 0) return void 0;
    entry.inflight = void 0;
    if (isRetryable(error.code) && entry.attempts < this.#maxAttempts) {
      entry.notBefore = now + (error.retryAfterMs ?? fallbackDelayMs);
      return { room: entry.room, retryAt: entry.notBefore };
    }
    this.#remove(entry);
    const rejected = new StarlingError(error.code, error.message, {
      action: "send",
      clientMsgId: entry.clientMsgId,
      ...error.retryAfterMs === void 0 ? {} : { retryAfterMs: error.retryAfterMs },
      ...error.reason === void 0 ? {} : { reason: error.reason }
    });
    entry.reject(rejected);
    return { room: entry.room, rejected };
  }
  /** The oldest message out on `link`, if any (to fail on a frame without `type`). */
  oldestInflight(link) {
    return this.#entries.find((e) => e.inflight === link);
  }
  /** `link` closed: its messages out are queued again, to be resent on the next link. */
  linkLost(link) {
    for (const e of this.#entries) if (e.inflight === link) e.inflight = void 0;
  }
  /** Rejects every message (the client was closed, or the room left). */
  rejectAll(error, room) {
    for (const entry of [...this.#entries]) {
      if (room !== void 0 && entry.room !== room) continue;
      this.#remove(entry);
      entry.reject(new StarlingError(error.code, error.message, { action: "send", clientMsgId: entry.clientMsgId, local: error.local }));
    }
  }
  #remove(entry) {
    const at = this.#entries.indexOf(entry);
    if (at >= 0) this.#entries.splice(at, 1);
  }
};

// ../typescript/src/room.ts
var SeqTracker = class {
  #delivered;
  #pending = /* @__PURE__ */ new Map();
  /** @param delivered every seq up to this one the application already has (0: none). */
  constructor(delivered) {
    this.#delivered = delivered;
  }
  /** The highest seq handed over, with every seq below it handed over or gone. */
  get delivered() {
    return this.#delivered;
  }
  /** Whether messages wait behind a gap, which a `sync` from {@link delivered} fills. */
  get hasGap() {
    return this.#pending.size > 0;
  }
  /** Takes one message, live or synced; returns the messages now deliverable, in seq order. */
  offer(message) {
    if (message.seq > this.#delivered && !this.#pending.has(message.seq)) {
      this.#pending.set(message.seq, message);
    }
    return this.#drain();
  }
  /**
   * A `synced` with this `lastSeq`: every retained message up to it was sent before, so a seq up
   * to `lastSeq` still missing is gone. Hands over what waits up to there (and whatever follows
   * without a gap), and moves past the gap.
   */
  settle(lastSeq) {
    const out = [];
    for (const seq of [...this.#pending.keys()].sort((a, b) => a - b)) {
      if (seq > lastSeq) break;
      const message = this.#pending.get(seq);
      this.#pending.delete(seq);
      if (message !== void 0 && seq > this.#delivered) {
        this.#delivered = seq;
        out.push(message);
      }
    }
    this.#delivered = Math.max(this.#delivered, lastSeq);
    out.push(...this.#drain());
    return out;
  }
  /**
   * Jumps to `seq` without handing anything over: the seqs up to it are skipped (the
   * application can page back through them with `history`). Waiting messages at or below it
   * are dropped.
   */
  skipTo(seq) {
    if (seq <= this.#delivered) return;
    for (const pending of [...this.#pending.keys()]) if (pending <= seq) this.#pending.delete(pending);
    this.#delivered = seq;
  }
  #drain() {
    const out = [];
    for (; ; ) {
      const next = this.#pending.get(this.#delivered + 1);
      if (next === void 0) break;
      this.#pending.delete(next.seq);
      this.#delivered = next.seq;
      out.push(next);
    }
    return out;
  }
};

// ../typescript/src/inbox.ts
var Inbox = class {
  #rooms = /* @__PURE__ */ new Map();
  /** Tracks `room`, of which the application has every seq up to `delivered`; a tracked room keeps its state. */
  track(room, delivered) {
    if (!this.#rooms.has(room)) {
      this.#rooms.set(room, { tracker: new SeqTracker(delivered), syncing: false, wanted: false, resetting: void 0 });
    }
  }
  /** Stops tracking `room` (after `leave`). */
  untrack(room) {
    this.#rooms.delete(room);
  }
  /** Whether `room` is tracked. */
  has(room) {
    return this.#rooms.has(room);
  }
  /** The room's delivered seq, when tracked. */
  delivered(room) {
    return this.#rooms.get(room)?.tracker.delivered;
  }
  /** Whether any room waits for a `synced` or a `history` reset. */
  get busy() {
    for (const r of this.#rooms.values()) if (r.syncing || r.resetting !== void 0) return true;
    return false;
  }
  /**
   * After a (re)connect and the `join`s: `sync` every tracked room (of `rooms`, when given)
   * from its delivered seq. Syncs sent on an earlier connection are forgotten: their frames
   * are lost with it.
   */
  beginSync(rooms) {
    const only = rooms === void 0 ? void 0 : new Set(rooms);
    for (const [name, r] of this.#rooms) {
      if (only !== void 0 && !only.has(name)) continue;
      r.syncing = false;
      r.resetting = void 0;
      r.wanted = true;
    }
    return this.nextSyncs();
  }
  /** The `sync` requests (at most 50 rooms each) of the rooms that want one and have none out. */
  nextSyncs() {
    const requests = [];
    let rooms = {};
    let count = 0;
    for (const [name, r] of this.#rooms) {
      if (!r.wanted || r.syncing || r.resetting !== void 0) continue;
      r.wanted = false;
      r.syncing = true;
      rooms[name] = r.tracker.delivered;
      count += 1;
      if (count === LIMITS.maxSyncRooms) {
        requests.push({ action: "sync", rooms, pages: true });
        rooms = {};
        count = 0;
      }
    }
    if (count > 0) requests.push({ action: "sync", rooms, pages: true });
    return requests;
  }
  /** Messages of `room`, live or from a `syncPage`; returns those to hand over now. */
  offer(room, messages) {
    const r = this.#rooms.get(room);
    if (r === void 0) return [];
    const out = [];
    for (const m of messages) if (m.room === room) out.push(...r.tracker.offer(m));
    if (r.tracker.hasGap && !r.syncing && r.resetting === void 0) r.wanted = true;
    return out;
  }
  /** A `synced` frame: settles the room up to its `lastSeq` (§7 steps 4 and 5). */
  onSynced(frame) {
    const r = this.#rooms.get(frame.room);
    if (r === void 0 || !r.syncing) return { deliver: [] };
    r.syncing = false;
    if (!frame.recovered) {
      r.resetting = frame.lastSeq;
      return { deliver: [], needHistory: frame.room };
    }
    const before = r.tracker.delivered;
    const deliver = r.tracker.settle(frame.lastSeq);
    r.wanted ||= frame.hasMore === true || r.tracker.hasGap;
    const step = { deliver };
    const gap2 = firstHole(frame.room, before, deliver) ?? trailingHole(frame.room, before, r.tracker.delivered, deliver);
    if (gap2 !== void 0) step.gap = gap2;
    return step;
  }
  /**
   * The newest `history` page of a room whose sync answered `recovered:false`: hands over the
   * page (and whatever waits after it) and skips the seqs before it, which are returned as the
   * {@link Gap}; the application can page back through the retained ones with `history`.
   * `page` undefined means the history request failed: the room settles as `synced` said.
   */
  resetFromHistory(room, page) {
    const r = this.#rooms.get(room);
    if (r === void 0 || r.resetting === void 0) return { deliver: [] };
    const lastSeq = r.resetting;
    r.resetting = void 0;
    const before = r.tracker.delivered;
    const first = page?.[0];
    const deliver = [];
    if (first === void 0) {
      deliver.push(...r.tracker.settle(lastSeq));
    } else {
      r.tracker.skipTo(first.seq - 1);
      for (const m of page ?? []) deliver.push(...r.tracker.offer(m));
    }
    r.wanted ||= r.tracker.hasGap;
    const step = { deliver };
    const gap2 = firstHole(room, before, deliver) ?? trailingHole(room, before, r.tracker.delivered, deliver);
    if (gap2 !== void 0) step.gap = gap2;
    return step;
  }
  /** A room's sync was refused (an `error` naming it): it is not retried. */
  syncRefused(room) {
    const r = this.#rooms.get(room);
    if (r !== void 0) r.syncing = false;
  }
  /** A whole `sync` request failed (`rate_limited`, `internal`, a timeout): its rooms want another. */
  syncFailed(rooms) {
    for (const name of rooms) {
      const r = this.#rooms.get(name);
      if (r !== void 0 && r.syncing) {
        r.syncing = false;
        r.wanted = true;
      }
    }
  }
};
function firstHole(room, before, deliver) {
  const first = deliver[0];
  if (first === void 0 || first.seq === before + 1) return void 0;
  return { room, fromSeq: before + 1, toSeq: first.seq - 1 };
}
function trailingHole(room, before, after, deliver) {
  if (deliver.length > 0 || after <= before) return void 0;
  return { room, fromSeq: before + 1, toSeq: after };
}

// ../typescript/src/resume.ts
var Resume = class {
  #inbox = new Inbox();
  #early = /* @__PURE__ */ new Map();
  #store;
  #gapHistoryLimit;
  #host;
  constructor(store, gapHistoryLimit, host) {
    this.#store = store;
    this.#gapHistoryLimit = gapHistoryLimit;
    this.#host = host;
  }
  /** Whether the room's start seq is known (it was joined once). */
  has(room) {
    return this.#inbox.has(room);
  }
  /** The room's last seq handed to the application. */
  delivered(room) {
    return this.#inbox.delivered(room);
  }
  /** The room's first `joined`: messages after `seq` are the application's, starting with those that came early. */
  start(room, seq) {
    if (this.#inbox.has(room)) return;
    this.#inbox.track(room, seq);
    const early = this.#early.get(room) ?? [];
    this.#early.delete(room);
    this.#deliver(this.#inbox.offer(room, early));
  }
  /** The room was left: its state is dropped. */
  forget(room) {
    this.#inbox.untrack(room);
    this.#early.delete(room);
  }
  /** Messages of `room`, live or from a `syncPage`, on any connection. `wanted`: the app joined the room. */
  offer(room, messages, wanted) {
    if (this.#inbox.has(room)) {
      this.#deliver(this.#inbox.offer(room, messages));
      this.sendNext();
    } else if (wanted) {
      this.#early.set(room, [...this.#early.get(room) ?? [], ...messages]);
    }
  }
  /** A connection took over, or joined `rooms` anew: sync them from their delivered seqs. */
  begin(session, rooms) {
    this.#send(session, this.#inbox.beginSync(rooms));
  }
  /** A `synced` on the connection in use. */
  onSynced(session, frame) {
    session.syncDone(frame.room);
    this.#apply(this.#inbox.onSynced(frame));
    this.sendNext();
  }
  /** An `error` answering a `sync`: one room refused, or the whole request failed (retried later). */
  onSyncError(session, frame, error) {
    const failed = session.syncFailed(frame.message);
    this.#host.error(error);
    if (failed.refusedRoom !== void 0) {
      this.#inbox.syncRefused(failed.refusedRoom);
      return;
    }
    this.#inbox.syncFailed(failed.rooms);
    setTimeout(() => this.sendNext(), error.retryAfterMs ?? this.#host.retryDelayMs());
  }
  /** Sends the `sync`s the procedure wants now, on the connection in use. */
  sendNext() {
    const session = this.#host.active();
    if (session !== void 0) this.#send(session, this.#inbox.nextSyncs());
  }
  #send(session, requests) {
    for (const request of requests) {
      const rooms = Object.keys(request.rooms);
      if (session === this.#host.active() && session.link.send(request)) session.syncSent(rooms);
      else this.#inbox.syncFailed(rooms);
    }
  }
  #apply(step) {
    this.#deliver(step.deliver);
    if (step.gap !== void 0) this.#host.gap(step.gap);
    if (step.needHistory !== void 0) void this.#resetFromHistory(step.needHistory);
  }
  async #resetFromHistory(room) {
    let page;
    try {
      page = await this.#host.history(room, this.#gapHistoryLimit);
    } catch {
      page = void 0;
    }
    const step = this.#inbox.resetFromHistory(room, page);
    if (step.gap !== void 0) this.#host.gap(step.gap);
    this.#deliver(step.deliver);
    this.sendNext();
  }
  #deliver(messages) {
    const rooms = /* @__PURE__ */ new Set();
    for (const m of messages) {
      rooms.add(m.room);
      this.#host.deliver(m);
    }
    for (const room of rooms) {
      const seq = this.#inbox.delivered(room);
      if (seq === void 0) continue;
      Promise.resolve(this.#store.set(room, seq)).catch((e) => this.#host.error(new StarlingError("internal", `the seq store failed: ${String(e)}`, { local: true })));
    }
  }
};

// ../typescript/src/rooms.ts
var Rooms = class {
  #wants = /* @__PURE__ */ new Map();
  #store;
  #maxAttempts;
  #host;
  constructor(store, maxAttempts, host) {
    this.#store = store;
    this.#maxAttempts = maxAttempts;
    this.#host = host;
  }
  /** Whether the application joined `room` (and has not left it). */
  has(room) {
    return this.#wants.has(room);
  }
  /** The rooms joined. */
  names() {
    return [...this.#wants.keys()];
  }
  /** Joins `room` (from `since`, when given) and resolves once joined on the active connection. */
  join(room, since) {
    let want = this.#wants.get(room);
    if (want === void 0) {
      want = { start: since ?? this.#readStore(room), waiters: [], lastJoined: void 0 };
      this.#wants.set(room, want);
    }
    const active = this.#host.active();
    if (active?.joined.has(room) === true && want.lastJoined !== void 0) return Promise.resolve(this.#result(want.lastJoined));
    const target = want;
    const joined = new Promise((resolve, reject) => target.waiters.push({ resolve, reject }));
    for (const session of [active, this.#host.candidate()]) if (session?.link.open === true) void this.joinOn(session, room);
    return joined;
  }
  /** Forgets `room`; whoever waits for its join gets `error`. */
  remove(room, error) {
    const waiters = this.#wants.get(room)?.waiters.splice(0) ?? [];
    this.#wants.delete(room);
    for (const w of waiters) w.reject(error);
  }
  /** Rejects every waiting join (the client was closed). */
  rejectAll(error) {
    for (const want of this.#wants.values()) for (const w of want.waiters.splice(0)) w.reject(error);
  }
  /** Joins every room on a new connection, rooms joined by the application meanwhile included. */
  async joinAll(session) {
    const tried = /* @__PURE__ */ new Set();
    for (; ; ) {
      const missing = this.names().filter((room) => !session.joined.has(room) && !tried.has(room));
      if (missing.length === 0 || session.link.closed) return;
      for (const room of missing) tried.add(room);
      await Promise.all(missing.map((room) => this.joinOn(session, room)));
    }
  }
  /** Joins `room` on `session`, retrying `rate_limited` and `internal`. */
  async joinOn(session, room) {
    for (let attempt = 1; ; attempt++) {
      if (session.link.closed || !this.#wants.has(room)) return;
      try {
        const frame = await this.#host.ask(session, { action: "join", room }, (f) => f.type === "joined" && f.room === room);
        return await this.#joined(session, frame);
      } catch (error) {
        if (!(error instanceof StarlingError)) return;
        if (error.code === "timeout") return session.end(1e3, "join timed out");
        if ((error.code === "rate_limited" || error.code === "internal") && attempt < this.#maxAttempts) {
          await new Promise((r) => setTimeout(r, error.retryAfterMs ?? this.#host.retryDelayMs()));
          continue;
        }
        const waited = (this.#wants.get(room)?.waiters.length ?? 0) > 0;
        this.remove(room, error);
        this.#host.gaveUp(room, error);
        if (!waited) this.#host.error(error);
        return;
      }
    }
  }
  /** `session` became the active connection: the joins made on it resolve. */
  activated(session) {
    for (const room of session.joined) this.#resolve(room);
  }
  async #joined(session, frame) {
    const want = this.#wants.get(frame.room);
    if (want === void 0) return;
    const start2 = await want.start;
    if (this.#wants.get(frame.room) !== want) return;
    want.lastJoined = frame;
    session.joined.add(frame.room);
    this.#host.start(frame.room, start2 ?? frame.lastSeq);
    if (session === this.#host.active()) {
      this.#resolve(frame.room);
      this.#host.ready(session, frame.room);
    }
  }
  /** The room's stored seq; a store that fails is reported, and the room starts as if it had none. */
  #readStore(room) {
    const failed = (e) => {
      this.#host.error(new StarlingError("internal", `the seq store failed: ${String(e)}`, { local: true }));
      return void 0;
    };
    try {
      const stored = this.#store.get(room);
      return stored instanceof Promise ? stored.catch(failed) : stored;
    } catch (e) {
      return failed(e);
    }
  }
  #resolve(room) {
    const want = this.#wants.get(room);
    if (want?.lastJoined === void 0) return;
    const result = this.#result(want.lastJoined);
    for (const w of want.waiters.splice(0)) w.resolve(result);
  }
  #result(frame) {
    return { room: frame.room, lastSeq: frame.lastSeq, delivered: this.#host.delivered(frame.room) ?? frame.lastSeq };
  }
};

// ../typescript/src/store.ts
var MemoryStore = class {
  #seqs = /* @__PURE__ */ new Map();
  get(room) {
    return this.#seqs.get(room);
  }
  set(room, seq) {
    this.#seqs.set(room, seq);
  }
  delete(room) {
    this.#seqs.delete(room);
  }
};
var LocalStorageStore = class {
  #storage;
  #prefix;
  /**
   * @param prefix key prefix, default `starling:seq:`.
   * @param storage default `globalThis.localStorage`.
   */
  constructor(prefix = "starling:seq:", storage) {
    const found = storage ?? globalThis.localStorage;
    if (found === void 0) throw new Error("LocalStorageStore: no localStorage here; pass a storage");
    this.#storage = found;
    this.#prefix = prefix;
  }
  get(room) {
    const raw = this.#storage.getItem(this.#prefix + room);
    if (raw === null) return void 0;
    const seq = Number(raw);
    return Number.isSafeInteger(seq) && seq >= 0 ? seq : void 0;
  }
  set(room, seq) {
    this.#storage.setItem(this.#prefix + room, String(seq));
  }
  delete(room) {
    this.#storage.removeItem(this.#prefix + room);
  }
};

// ../typescript/src/validate.ts
var roomPattern = new RegExp(LIMITS.roomIdPattern);
var encoder = new TextEncoder();
function checkRoom(room, action) {
  if (typeof room !== "string" || !roomPattern.test(room)) {
    throw new StarlingError("bad_request", `${JSON.stringify(room)} is not a room id: 1–${LIMITS.maxRoomIdLength} of A-Z a-z 0-9 _ . : -`, { action, local: true });
  }
}
function checkBody(body, clientMsgId) {
  if (typeof body !== "string" || body.length === 0) {
    throw new StarlingError("bad_request", "a message body must be a non-empty string", { action: "send", clientMsgId, local: true });
  }
  const bytes = encoder.encode(body).length;
  if (bytes > LIMITS.maxBodyLength) {
    throw new StarlingError("too_large", `the body is ${bytes} bytes of UTF-8; the server takes at most ${LIMITS.maxBodyLength}`, { action: "send", clientMsgId, local: true });
  }
}
function checkClientMsgId(clientMsgId) {
  const length = typeof clientMsgId === "string" ? [...clientMsgId].length : 0;
  if (length < 1 || length > LIMITS.maxClientMsgIdLength) {
    throw new StarlingError("bad_request", `a clientMsgId is 1–${LIMITS.maxClientMsgIdLength} characters`, { action: "send", local: true });
  }
}
function newClientMsgId() {
  const c = globalThis.crypto;
  if (typeof c.randomUUID === "function") return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] ?? 0) & 15 | 64;
  b[8] = (b[8] ?? 0) & 63 | 128;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ../typescript/src/client.ts
var StarlingClient = class {
  /** The WebSocket URL without the token, e.g. `wss://…/prod`. */
  url;
  #options;
  #events = new Emitter();
  #outbox;
  #resume;
  #connection;
  #rooms;
  #presenceVersions = /* @__PURE__ */ new Map();
  #taps = /* @__PURE__ */ new Set();
  #flushTimer;
  /** Use {@link connect}. */
  constructor(url, tokenProvider, options = {}) {
    this.url = url;
    this.#options = resolveOptions(options, () => new MemoryStore());
    this.#outbox = new Outbox(this.#options.maxSendAttempts);
    this.#resume = new Resume(this.#options.store, this.#options.gapHistoryLimit, {
      active: () => this.#connection.active,
      deliver: (m) => this.#events.emit("message", m),
      gap: (g) => this.#events.emit("gap", g),
      error: (e) => this.#emitError(e),
      history: async (room, limit) => (await this.history(room, { limit })).messages,
      retryDelayMs: () => this.#connection.retryDelayMs()
    });
    this.#rooms = new Rooms(this.#options.store, this.#options.maxSendAttempts, {
      active: () => this.#connection.active,
      candidate: () => this.#connection.candidate,
      ask: (session, request, matches) => this.#ask(session, request, matches),
      retryDelayMs: () => this.#connection.retryDelayMs(),
      start: (room, seq) => this.#resume.start(room, seq),
      delivered: (room) => this.#resume.delivered(room),
      ready: (session, room) => {
        this.#resume.begin(session, [room]);
        this.#flush(room);
      },
      gaveUp: (room, error) => this.#outbox.rejectAll(error, room),
      error: (e) => this.#emitError(e)
    });
    this.#connection = new Connection(url, tokenProvider, this.#options, {
      prepare: (session) => this.#rooms.joinAll(session),
      activated: (session) => this.#activated(session),
      drained: (previous, successor) => this.#outbox.oldestInflight(previous.link.id) === void 0 && !successor.syncing,
      frame: (session, frame) => this.#onFrame(session, frame),
      closed: (session) => {
        this.#outbox.linkLost(session.link.id);
        this.#flushAll();
      },
      state: (change) => this.#events.emit("state", change),
      error: (e) => this.#emitError(e)
    });
    INTERNALS.set(this, {
      request: (request, matches) => this.#request(request, matches),
      send: (room, body, clientMsgId, extra) => this.#send(room, body, clientMsgId, extra),
      tap: (listener) => {
        this.#taps.add(listener);
        return () => this.#taps.delete(listener);
      }
    });
  }
  /** The connection state: `connecting`, `connected`, `reconnecting` or `disconnected` (closed by the app). */
  get state() {
    return this.#connection.state;
  }
  /** The user id (`sub`) of the last token, when it is a readable JWT. */
  get user() {
    return this.#connection.user;
  }
  /** The rooms joined (or being joined). */
  get rooms() {
    return this.#rooms.names();
  }
  /** Messages sent but not yet accepted by the server. */
  get outboxSize() {
    return this.#outbox.size;
  }
  /** The room's last seq handed to the application, once the room was joined. */
  lastSeq(room) {
    return this.#resume.delivered(room);
  }
  /** Calls `listener` on every `event`; returns a function that removes it. */
  on(event, listener) {
    return this.#events.on(event, listener);
  }
  /** Calls `listener` on the next `event` only; returns a function that removes it. */
  once(event, listener) {
    return this.#events.once(event, listener);
  }
  /** Removes `listener`. */
  off(event, listener) {
    this.#events.off(event, listener);
  }
  /** Resolves once the client is connected (at once if it is); rejects with `closed` if it is closed first. */
  async connected() {
    await this.#connection.whenActive();
  }
  /**
   * Joins `room`, now and after every reconnect, and resolves once it is joined. Messages after
   * `since` (default: the store's seq for the room, else the room's last seq at the first join)
   * arrive as `message` events, once and in order. Rejects with the server's code (`forbidden`
   * for a DM room of others or beyond the room limit, `bad_request` for a malformed id).
   */
  async join(room, options = {}) {
    checkRoom(room, "join");
    return this.#rooms.join(room, options.since);
  }
  /**
   * Leaves `room`: ends the subscription and the user's membership (on all of the user's
   * devices), forgets the room's seq, and rejects its queued sends. While offline it waits for
   * the connection, since only the server can end the membership.
   */
  async leave(room) {
    checkRoom(room, "leave");
    this.#rooms.remove(room, new StarlingError("not_found", `left ${room}`, { action: "join", local: true }));
    this.#resume.forget(room);
    await this.#options.store.delete?.(room);
    this.#outbox.rejectAll(new StarlingError("forbidden", `left ${room} before the message was accepted`, { local: true }), room);
    const active = this.#connection.active;
    if (active?.joined.has(room) === true) {
      active.joined.delete(room);
    } else {
      await this.#request({ action: "join", room }, (f) => f.type === "joined" && f.room === room);
    }
    await this.#request({ action: "leave", room }, (f) => f.type === "left" && f.room === room);
  }
  /**
   * Sends `body` to `room` (joined with {@link join}). While disconnected the message waits in
   * the outbox; it is sent, and resent after a reconnect, with the same `clientMsgId` until the
   * server accepts it, and the promise resolves then (`accepted` means queued: the `message`
   * event carrying this `clientMsgId` confirms it was stored). `rate_limited` and `internal` are
   * retried. It rejects with a {@link StarlingError} carrying the server's code, or at once
   * (`local: true`) for a body the server would refuse.
   */
  send(room, body, options = {}) {
    return this.#send(room, body, options.clientMsgId ?? newClientMsgId(), void 0);
  }
  #send(room, body, clientMsgId, extra) {
    try {
      checkRoom(room, "send");
      checkClientMsgId(clientMsgId);
      checkBody(body, clientMsgId);
      if (!this.#rooms.has(room)) throw new StarlingError("forbidden", `join ${room} first`, { action: "send", clientMsgId, local: true });
      if (this.state === "disconnected") throw new StarlingError("closed", "the client is closed", { action: "send", clientMsgId, local: true });
    } catch (error) {
      return Promise.reject(error);
    }
    const receipt = this.#outbox.enqueue(room, body, clientMsgId, extra);
    this.#flush(room);
    return receipt;
  }
  /** One page of `room`'s stored messages, newest page first, ascending in the page. Page back with `before` = the page's first seq while `hasMore`. */
  async history(room, options = {}) {
    checkRoom(room, "history");
    const frame = await this.#request({ action: "history", room, ...options }, (f) => f.type === "history" && f.room === room);
    return { room, messages: frame.messages, hasMore: frame.hasMore };
  }
  /** One page of `room`'s members; pass the page's `cursor` for the next one while `hasMore`. */
  async presence(room, options = {}) {
    checkRoom(room, "presence");
    const frame = await this.#request({ action: "presence", room, ...options }, (f) => f.type === "presence" && f.room === room);
    for (const m of frame.members) this.#notePresence(m.user, m.version);
    const page = { room, members: frame.members, hasMore: frame.hasMore };
    if (frame.cursor !== void 0) page.cursor = frame.cursor;
    return page;
  }
  /** `room`'s activity per UTC minute over the last `minutes` (1–1440, default 60): messages, senders, deliveries, oldest first, and totals. Members only. */
  async stats(room, options = {}) {
    checkRoom(room, "stats");
    const frame = await this.#request({ action: "stats", room, ...options }, (f) => f.type === "stats" && f.room === room);
    return { room, minutes: frame.minutes, totals: frame.totals, hasMore: frame.hasMore === true };
  }
  /** Sets the user's status for all of their devices; resolves with the server's announcement. */
  async setStatus(status) {
    const mine = (f) => f.type === "presenceChanged" && f.status === status && (this.user === void 0 || f.user === this.user);
    return presenceUpdate(await this.#request({ action: "status", status }, mine));
  }
  /** Moves the user's read cursor in `room` forward to `seq`; resolves with the stored cursor (which never moves back). */
  async markRead(room, seq) {
    checkRoom(room, "read");
    const mine = (f) => f.type === "read" && f.room === room && (this.user === void 0 || f.user === this.user);
    return (await this.#request({ action: "read", room, seq }, mine)).seq;
  }
  /** Tells `room` the user is typing (no reply; the server passes one per 2 s). `false` when not connected or not joined. For a throttle, see {@link TypingThrottle}. */
  typing(room) {
    const active = this.#connection.active;
    if (active === void 0 || !active.joined.has(room)) return false;
    return active.link.send({ action: "typing", room });
  }
  /** Sends `ping` and resolves on `pong`. The SDK pings by itself; this is for apps that want a round trip. */
  async ping() {
    await this.#request({ action: "ping" }, (f) => f.type === "pong");
  }
  /** Replaces the connection now, make-before-break, as the planned reconnect does before API Gateway's 2-hour limit. */
  reconnect() {
    this.#connection.replace();
  }
  /** Drops the connection abruptly, as a network failure would; the client reconnects as after any drop. For tests and demos. */
  dropConnection() {
    this.#connection.active?.link.close(4999, "dropped on purpose");
  }
  /** Closes the client for good: state `disconnected`; queued sends and waiting requests reject with `closed`. */
  close() {
    if (this.state === "disconnected") return;
    this.#connection.close();
    clearTimeout(this.#flushTimer);
    const closed = new StarlingError("closed", "the client was closed", { local: true });
    this.#outbox.rejectAll(closed);
    this.#rooms.rejectAll(closed);
  }
  /** The new connection took over: joins resolve, rooms sync, the outbox goes out. */
  #activated(session) {
    this.#rooms.activated(session);
    this.#resume.begin(session, session.joined);
    this.#flushAll();
  }
  // --- frames ---------------------------------------------------------------------------
  #onFrame(session, raw) {
    if (this.#tapped(raw)) return this.#connection.checkDrained();
    if (typeof raw.type !== "string") this.#onGatewayError(session);
    else this.#dispatch(session, raw);
    this.#connection.checkDrained();
  }
  /** Whether a tap (the e2e layer) took the frame: a `welcome`, or the `conflict` of its Commit. */
  #tapped(raw) {
    let taken = false;
    for (const tap of this.#taps) taken = tap(raw) || taken;
    return taken;
  }
  #dispatch(session, frame) {
    switch (frame.type) {
      case "message": {
        const { type: _type, ...message } = frame;
        return this.#resume.offer(frame.room, [message], this.#rooms.has(frame.room));
      }
      case "messages":
      case "syncPage":
        return this.#resume.offer(frame.room, frame.messages, this.#rooms.has(frame.room));
      case "synced":
        if (session === this.#connection.active) this.#resume.onSynced(session, frame);
        return;
      case "accepted":
        if (this.#outbox.accepted(frame)) this.#flush(frame.room);
        return;
      case "error": {
        const error = errorFromFrame(frame);
        if (frame.action === "send") return this.#onSendError(session, error);
        if (frame.action === "sync") return this.#resume.onSyncError(session, frame, error);
        if (!session.requests.handle(frame)) this.#emitError(error);
        return;
      }
      case "presenceChanged":
        session.requests.handle(frame);
        if (this.#notePresence(frame.user, frame.version)) this.#events.emit("presence", presenceUpdate(frame));
        return;
      case "typing":
        return this.#events.emit("typing", { room: frame.room, user: frame.user });
      case "read":
        session.requests.handle(frame);
        return this.#events.emit("read", { room: frame.room, user: frame.user, seq: frame.seq });
      default:
        session.requests.handle(frame);
    }
  }
  /** API Gateway's own error frame (no `type`): the request it answers failed with `internal`. */
  #onGatewayError(session) {
    if (session.requests.failOldest()) return;
    const entry = this.#outbox.oldestInflight(session.link.id);
    if (entry !== void 0) this.#onSendError(session, new StarlingError("internal", "the server failed to handle the send", { action: "send", clientMsgId: entry.clientMsgId }));
  }
  // --- outbox ---------------------------------------------------------------------------
  #onSendError(session, error) {
    const outcome = this.#outbox.refused(error, session.link.id, Date.now(), this.#connection.retryDelayMs());
    if (outcome === void 0) return this.#emitError(error);
    this.#flush(outcome.room);
    this.#scheduleFlush();
  }
  /** Sends the room's next queued message, if the active connection is joined to it and none is out. */
  #flush(room) {
    const active = this.#connection.active;
    if (active === void 0 || !active.link.open || !active.joined.has(room)) return;
    const entry = this.#outbox.next(room, Date.now());
    if (entry === void 0) return;
    if (!active.link.send(this.#outbox.sent(entry, active.link.id))) this.#outbox.linkLost(active.link.id);
  }
  #flushAll() {
    for (const room of this.#outbox.rooms()) this.#flush(room);
    this.#scheduleFlush();
  }
  #scheduleFlush() {
    const at = this.#outbox.nextRetryAt(Date.now());
    clearTimeout(this.#flushTimer);
    if (at !== void 0) this.#flushTimer = setTimeout(() => this.#flushAll(), at - Date.now());
  }
  // --- requests -------------------------------------------------------------------------
  /** Sends `request` on `session` and waits for the frame `matches` accepts. */
  #ask(session, request, matches, timeoutMs = this.#options.requestTimeoutMs) {
    const reply = session.requests.add(request, matches, timeoutMs);
    session.link.send(request);
    return reply;
  }
  /** Sends `request` once connected and waits for its reply; sent again after a drop or `rate_limited`. */
  async #request(request, matches) {
    for (let attempt = 1; ; attempt++) {
      const session = await this.#connection.whenActive();
      try {
        return await this.#ask(session, request, matches);
      } catch (error) {
        const last = attempt >= this.#options.maxSendAttempts;
        if (error instanceof LinkLostError && !last) continue;
        if (error instanceof StarlingError && error.code === "rate_limited" && !last) {
          await sleep(error.retryAfterMs ?? this.#connection.retryDelayMs());
          continue;
        }
        if (error instanceof LinkLostError) throw new StarlingError("internal", error.message, { action: request.action });
        throw error;
      }
    }
  }
  // --- events ---------------------------------------------------------------------------
  #notePresence(user, version) {
    const known = this.#presenceVersions.get(user);
    if (known !== void 0 && version <= known) return false;
    this.#presenceVersions.set(user, version);
    return true;
  }
  #emitError(error) {
    if (this.#events.listenerCount("error") > 0) this.#events.emit("error", error);
  }
};
var INTERNALS = /* @__PURE__ */ new WeakMap();
function clientInternals(client) {
  const found = INTERNALS.get(client);
  if (found === void 0) throw new Error("not a StarlingClient");
  return found;
}
function presenceUpdate(frame) {
  const { type: _type, ...update } = frame;
  return update;
}
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
function connect(url, tokenProvider, options = {}) {
  return new StarlingClient(url, tokenProvider, options);
}

// ../typescript/src/helpers.ts
var TypingThrottle = class {
  #client;
  #intervalMs;
  #last = /* @__PURE__ */ new Map();
  /** @param intervalMs default 2 500 (just over the server's 2 s). */
  constructor(client, intervalMs = 2500) {
    this.#client = client;
    this.#intervalMs = intervalMs;
  }
  /** The user typed in `room`; returns whether a `typing` frame went out. */
  keystroke(room, now = Date.now()) {
    const last = this.#last.get(room);
    if (last !== void 0 && now - last < this.#intervalMs) return false;
    if (!this.#client.typing(room)) return false;
    this.#last.set(room, now);
    return true;
  }
  /** The user sent the message (or cleared the input): the next keystroke announces again at once. */
  reset(room) {
    this.#last.delete(room);
  }
};
var TypingIndicator = class {
  #timeoutMs;
  #since = /* @__PURE__ */ new Map();
  /** @param timeoutMs default 5 000. */
  constructor(timeoutMs = 5e3) {
    this.#timeoutMs = timeoutMs;
  }
  /** Feed it every `typing` event. */
  typing(room, user, now = Date.now()) {
    let users = this.#since.get(room);
    if (users === void 0) {
      users = /* @__PURE__ */ new Map();
      this.#since.set(room, users);
    }
    users.set(user, now);
  }
  /** Feed it every `message` event: its sender stopped typing. */
  message(room, from) {
    this.#since.get(room)?.delete(from);
  }
  /** The users typing in `room` now, in the order they started. */
  typingIn(room, now = Date.now()) {
    const users = this.#since.get(room);
    if (users === void 0) return [];
    for (const [user, at] of users) if (now - at >= this.#timeoutMs) users.delete(user);
    return [...users.keys()];
  }
};
var ReadCursors = class {
  #cursors = /* @__PURE__ */ new Map();
  /** Feed it every `read` event. Returns whether the cursor moved. */
  update(room, user, seq) {
    let users = this.#cursors.get(room);
    if (users === void 0) {
      users = /* @__PURE__ */ new Map();
      this.#cursors.set(room, users);
    }
    if ((users.get(user) ?? 0) >= seq) return false;
    users.set(user, seq);
    return true;
  }
  /** `user`'s cursor in `room` (0 when unknown). */
  cursor(room, user) {
    return this.#cursors.get(room)?.get(user) ?? 0;
  }
  /** The users whose cursor in `room` is at or past `seq`: who has seen that message. */
  seenBy(room, seq) {
    return [...this.#cursors.get(room) ?? []].filter(([, at]) => at >= seq).map(([user]) => user);
  }
  /** How many of the seqs after `user`'s cursor, up to `lastSeq`, are unread. */
  unread(room, user, lastSeq) {
    return Math.max(0, lastSeq - this.cursor(room, user));
  }
};

// ../typescript/src/e2e/bytes.ts
var encoder2 = new TextEncoder();
var decoder = new TextDecoder("utf-8", { fatal: true });
var B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
var B64_INDEX = new Map([...B64].map((c, i) => [c, i]));
function toBase64(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i] ?? 0;
    const b = bytes[i + 1] ?? 0;
    const c = bytes[i + 2] ?? 0;
    const n = a << 16 | b << 8 | c;
    out += B64.charAt(n >> 18 & 63) + B64.charAt(n >> 12 & 63);
    out += i + 1 < bytes.length ? B64.charAt(n >> 6 & 63) : "=";
    out += i + 2 < bytes.length ? B64.charAt(n & 63) : "=";
  }
  return out;
}
function fromBase64(text) {
  if (text.length % 4 !== 0) throw new Error("base64 text must be padded to a multiple of 4 characters");
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array(text.length / 4 * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const ch = text.charAt(i + j);
      const v = ch === "=" && i + j >= text.length - pad ? 0 : B64_INDEX.get(ch);
      if (v === void 0) throw new Error(`not base64: ${JSON.stringify(ch)}`);
      n = n << 6 | v;
    }
    if (o < out.length) out[o++] = n >> 16 & 255;
    if (o < out.length) out[o++] = n >> 8 & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}
function toHex(bytes) {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
function utf8(text) {
  return encoder2.encode(text);
}
function fromUtf8(bytes) {
  return decoder.decode(bytes);
}
function randomBytes(count) {
  return globalThis.crypto.getRandomValues(new Uint8Array(count));
}
function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

// ../typescript/src/e2e/errors.ts
var E2eError = class extends Error {
  /** What went wrong. */
  code;
  /** The room, when the failure is about one. */
  room;
  /** The message's seq, for failures about one stored message. */
  seq;
  constructor(code, message, init = {}) {
    super(message, init.cause === void 0 ? void 0 : { cause: init.cause });
    this.name = "E2eError";
    this.code = code;
    this.room = init.room;
    this.seq = init.seq;
  }
};

// ../typescript/node_modules/ts-mls/dist/src/codec/tlsEncoder.js
function encode(enc) {
  return (t) => {
    const [len, write] = enc(t);
    const buf = new ArrayBuffer(len);
    write(0, buf);
    return new Uint8Array(buf);
  };
}
function contramapBufferEncoder(enc, f) {
  return (u) => enc(f(u));
}
function contramapBufferEncoders(encoders, toTuple) {
  return (value) => {
    const values = toTuple(value);
    let totalLength = 0;
    let writeTotal = (_offset, _buffer) => {
    };
    for (let i = 0; i < encoders.length; i++) {
      const [len, write] = encoders[i](values[i]);
      const oldFunc = writeTotal;
      const currentLen = totalLength;
      writeTotal = (offset, buffer) => {
        oldFunc(offset, buffer);
        write(offset + currentLen, buffer);
      };
      totalLength += len;
    }
    return [totalLength, writeTotal];
  };
}
function composeBufferEncoders(encoders) {
  return (values) => contramapBufferEncoders(encoders, (t) => t)(values);
}
var encVoid = [0, () => {
}];

// ../typescript/node_modules/ts-mls/dist/src/codec/number.js
var uint8Encoder = (n) => [
  1,
  (offset, buffer) => {
    const view = new DataView(buffer);
    view.setUint8(offset, n);
  }
];
var encodeUint8 = encode(uint8Encoder);
var decodeUint8 = (b, offset) => {
  const value = b.at(offset);
  return value !== void 0 ? [value, 1] : void 0;
};
var uint16Encoder = (n) => [
  2,
  (offset, buffer) => {
    const view = new DataView(buffer);
    view.setUint16(offset, n);
  }
];
var encodeUint16 = encode(uint16Encoder);
var decodeUint16 = (b, offset) => {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  try {
    return [view.getUint16(offset), 2];
  } catch (e) {
    return void 0;
  }
};
var uint32Encoder = (n) => [
  4,
  (offset, buffer) => {
    const view = new DataView(buffer);
    view.setUint32(offset, n);
  }
];
var encodeUint32 = encode(uint32Encoder);
var decodeUint32 = (b, offset) => {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  try {
    return [view.getUint32(offset), 4];
  } catch (e) {
    return void 0;
  }
};
var uint64Encoder = (n) => [
  8,
  (offset, buffer) => {
    const view = new DataView(buffer);
    view.setBigUint64(offset, n);
  }
];
var encodeUint64 = encode(uint64Encoder);
var decodeUint64 = (b, offset) => {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  try {
    return [view.getBigUint64(offset), 8];
  } catch (e) {
    return void 0;
  }
};

// ../typescript/node_modules/ts-mls/dist/src/codec/tlsDecoder.js
function mapDecoder(dec, f) {
  return (b, offset) => {
    const x = dec(b, offset);
    if (x !== void 0) {
      const [t, l] = x;
      return [f(t), l];
    }
  };
}
function mapDecodersOption(decoders, f) {
  return (b, offset) => {
    const initial = mapDecoders(decoders, f)(b, offset);
    if (initial === void 0)
      return void 0;
    else {
      const [r, len] = initial;
      return r !== void 0 ? [r, len] : void 0;
    }
  };
}
function mapDecoders(decoders, f) {
  return (b, offset) => {
    const result = decoders.reduce((acc, decoder2) => {
      if (!acc)
        return void 0;
      const decoded = decoder2(b, acc.offset);
      if (!decoded)
        return void 0;
      const [value, length] = decoded;
      return {
        values: [...acc.values, value],
        offset: acc.offset + length,
        totalLength: acc.totalLength + length
      };
    }, { values: [], offset, totalLength: 0 });
    if (!result)
      return;
    return [f(...result.values), result.totalLength];
  };
}
function mapDecoderOption(dec, f) {
  return (b, offset) => {
    const x = dec(b, offset);
    if (x !== void 0) {
      const [t, l] = x;
      const u = f(t);
      return u !== void 0 ? [u, l] : void 0;
    }
  };
}
function flatMapDecoder(dec, f) {
  return flatMapDecoderAndMap(dec, f, (_t, u) => u);
}
function orDecoder(decT, decU) {
  return (b, offset) => {
    const t = decT(b, offset);
    return t ? t : decU(b, offset);
  };
}
function flatMapDecoderAndMap(dec, f, g) {
  return (b, offset) => {
    const decodedT = dec(b, offset);
    if (decodedT !== void 0) {
      const [t, len] = decodedT;
      const decoderU = f(t);
      const decodedU = decoderU(b, offset + len);
      if (decodedU !== void 0) {
        const [u, len2] = decodedU;
        return [g(t, u), len + len2];
      }
    }
  };
}
function succeedDecoder(t) {
  return () => [t, 0];
}
function failDecoder() {
  return () => void 0;
}

// ../typescript/node_modules/ts-mls/dist/src/util/enumHelpers.js
function enumNumberToKey(t) {
  return (n) => Object.values(t).includes(n) ? reverseMap(t)[n] : void 0;
}
function reverseMap(obj) {
  return Object.entries(obj).reduce((acc, [key, value]) => ({
    ...acc,
    [value]: key
  }), {});
}
function openEnumNumberToKey(rec) {
  return (n) => {
    const decoded = enumNumberToKey(rec)(n);
    if (decoded === void 0)
      return n.toString();
    else
      return decoded;
  };
}
function openEnumNumberEncoder(rec) {
  return (s) => {
    const x = rec[s];
    if (x === void 0)
      return Number(s);
    else
      return x;
  };
}

// ../typescript/node_modules/ts-mls/dist/src/defaultProposalType.js
var defaultProposalTypes = {
  add: 1,
  update: 2,
  remove: 3,
  psk: 4,
  reinit: 5,
  external_init: 6,
  group_context_extensions: 7
};
var defaultProposalTypeEncoder = contramapBufferEncoder(uint16Encoder, (n) => defaultProposalTypes[n]);
var encodeDefaultProposalType = encode(defaultProposalTypeEncoder);
var decodeDefaultProposalType = mapDecoderOption(decodeUint16, enumNumberToKey(defaultProposalTypes));

// ../typescript/node_modules/ts-mls/dist/src/defaultExtensionType.js
var defaultExtensionTypes = {
  application_id: 1,
  ratchet_tree: 2,
  required_capabilities: 3,
  external_pub: 4,
  external_senders: 5
};
var defaultExtensionTypeEncoder = contramapBufferEncoder(uint16Encoder, (n) => defaultExtensionTypes[n]);
var encodeDefaultExtensionType = encode(defaultExtensionTypeEncoder);
var decodeDefaultExtensionType = mapDecoderOption(decodeUint16, enumNumberToKey(defaultExtensionTypes));

// ../typescript/node_modules/ts-mls/dist/src/incomingMessageAction.js
var acceptAll = () => "accept";

// ../typescript/node_modules/ts-mls/dist/src/mlsError.js
var MlsError = class extends Error {
  constructor(message) {
    super(message);
    this.name = "MlsError";
  }
};
var ValidationError = class extends MlsError {
  constructor(message) {
    super(message);
    this.name = "ValidationError";
  }
};
var CodecError = class extends MlsError {
  constructor(message) {
    super(message);
    this.name = "CodecError";
  }
};
var UsageError = class extends MlsError {
  constructor(message) {
    super(message);
    this.name = "UsageError";
  }
};
var DependencyError = class extends MlsError {
  constructor(message) {
    super(message);
    this.name = "DependencyError";
  }
};
var CryptoVerificationError = class extends MlsError {
  constructor(message) {
    super(message);
    this.name = "CryptoVerificationError";
  }
};
var CryptoError = class extends MlsError {
  constructor(message) {
    super(message);
    this.name = "CryptoError";
  }
};
var InternalError = class extends MlsError {
  constructor(message) {
    super(`This error should never occur, if you see this please submit a bug report. Message: ${message}`);
    this.name = "InternalError";
  }
};

// ../typescript/node_modules/ts-mls/dist/src/util/byteArray.js
function bytesToArrayBuffer(b) {
  if (b.buffer instanceof ArrayBuffer) {
    if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) {
      return b.buffer;
    }
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  } else {
    const ab = new ArrayBuffer(b.byteLength);
    const arr = new Uint8Array(ab);
    arr.set(b, 0);
    return ab;
  }
}
function toBufferSource(b) {
  if (b.buffer instanceof ArrayBuffer)
    return b;
  const ab = new ArrayBuffer(b.byteLength);
  const arr = new Uint8Array(ab);
  arr.set(b, 0);
  return ab;
}
function bytesToBase64(bytes) {
  if (typeof Buffer !== "undefined") {
    return Buffer.from(bytes).toString("base64");
  } else {
    let binary = "";
    bytes.forEach((b) => binary += String.fromCharCode(b));
    return globalThis.btoa(binary);
  }
}
function base64ToBytes(base64) {
  if (typeof Buffer !== "undefined") {
    return Uint8Array.from(Buffer.from(base64, "base64"));
  } else {
    const binary = globalThis.atob(base64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes;
  }
}
function concatUint8Arrays(a, b) {
  const result = new Uint8Array(a.length + b.length);
  result.set(a, 0);
  result.set(b, a.length);
  return result;
}
function zeroOutUint8Array(buf) {
  crypto.getRandomValues(buf);
  for (let i = 0; i < buf.length; i++) {
    buf[i] ^= buf[i];
  }
}

// ../typescript/node_modules/ts-mls/dist/src/codec/variableLength.js
var varLenDataEncoder = (data) => {
  const [len, write] = lengthEncoder(data.length);
  return [
    len + data.length,
    (offset, buffer) => {
      write(offset, buffer);
      const view = new Uint8Array(buffer);
      view.set(data, offset + len);
    }
  ];
};
function lengthEncoder(len) {
  if (len < 64) {
    return [
      1,
      (offset, buffer) => {
        const view = new DataView(buffer);
        view.setUint8(offset, len & 63);
      }
    ];
  } else if (len < 16384) {
    return [
      2,
      (offset, buffer) => {
        const view = new DataView(buffer);
        view.setUint8(offset, len >> 8 & 63 | 64);
        view.setUint8(offset + 1, len & 255);
      }
    ];
  } else if (len < 1073741824) {
    return [
      4,
      (offset, buffer) => {
        const view = new DataView(buffer);
        view.setUint8(offset, len >> 24 & 63 | 128);
        view.setUint8(offset + 1, len >> 16 & 255);
        view.setUint8(offset + 2, len >> 8 & 255);
        view.setUint8(offset + 3, len & 255);
      }
    ];
  } else {
    throw new CodecError("Length too large to encode (max is 2^30 - 1)");
  }
}
function determineLength(data, offset = 0) {
  if (offset >= data.length) {
    throw new CodecError("Offset beyond buffer");
  }
  const firstByte = data[offset];
  const prefix = firstByte >> 6;
  if (prefix === 0) {
    return { length: firstByte & 63, lengthFieldSize: 1 };
  } else if (prefix === 1) {
    if (offset + 2 > data.length)
      throw new CodecError("Incomplete 2-byte length");
    return { length: (firstByte & 63) << 8 | data[offset + 1], lengthFieldSize: 2 };
  } else if (prefix === 2) {
    if (offset + 4 > data.length)
      throw new CodecError("Incomplete 4-byte length");
    return {
      length: (firstByte & 63) << 24 | data[offset + 1] << 16 | data[offset + 2] << 8 | data[offset + 3],
      lengthFieldSize: 4
    };
  } else {
    throw new CodecError("8-byte length not supported in this implementation");
  }
}
var decodeVarLenData = (buf, offset) => {
  if (offset >= buf.length) {
    throw new CodecError("Offset beyond buffer");
  }
  const { length, lengthFieldSize } = determineLength(buf, offset);
  const totalBytes = lengthFieldSize + length;
  if (offset + totalBytes > buf.length) {
    throw new CodecError("Data length exceeds buffer");
  }
  const data = buf.subarray(offset + lengthFieldSize, offset + totalBytes);
  return [data, totalBytes];
};
function varLenTypeEncoder(enc) {
  return (data) => {
    let totalLength = 0;
    let writeTotal = (_offset, _buffer) => {
    };
    for (let i = 0; i < data.length; i++) {
      const [len, write] = enc(data[i]);
      const oldFunc = writeTotal;
      const currentLen = totalLength;
      writeTotal = (offset, buffer) => {
        oldFunc(offset, buffer);
        write(offset + currentLen, buffer);
      };
      totalLength += len;
    }
    const [headerLength, writeLength] = lengthEncoder(totalLength);
    return [
      headerLength + totalLength,
      (offset, buffer) => {
        writeLength(offset, buffer);
        writeTotal(offset + headerLength, buffer);
      }
    ];
  };
}
function decodeVarLenType(dec) {
  return (b, offset) => {
    const d = decodeVarLenData(b, offset);
    if (d === void 0)
      return;
    const [totalBytes, totalLength] = d;
    let cursor = 0;
    const result = [];
    while (cursor < totalBytes.length) {
      const item = dec(totalBytes, cursor);
      if (item === void 0)
        return void 0;
      const [value, len] = item;
      result.push(value);
      cursor += len;
    }
    return [result, totalLength];
  };
}
function base64RecordEncoder(valueEncoder) {
  const entryEncoder = contramapBufferEncoders([contramapBufferEncoder(varLenDataEncoder, base64ToBytes), valueEncoder], ([key, value]) => [key, value]);
  return contramapBufferEncoders([varLenTypeEncoder(entryEncoder)], (record) => [Object.entries(record)]);
}
function decodeBase64Record(decodeValue) {
  return mapDecoder(decodeVarLenType(mapDecoders([mapDecoder(decodeVarLenData, bytesToBase64), decodeValue], (key, value) => [key, value])), (entries) => {
    const record = {};
    for (const [key, value] of entries) {
      record[key] = value;
    }
    return record;
  });
}
function numberRecordEncoder(numberEncoder, valueEncoder) {
  const entryEncoder = contramapBufferEncoders([numberEncoder, valueEncoder], ([key, value]) => [key, value]);
  return contramapBufferEncoder(varLenTypeEncoder(entryEncoder), (record) => Object.entries(record).map(([key, value]) => [Number(key), value]));
}
function decodeNumberRecord(decodeNumber, decodeValue) {
  return mapDecoder(decodeVarLenType(mapDecoders([decodeNumber, decodeValue], (key, value) => [key, value])), (entries) => {
    const record = {};
    for (const [key, value] of entries) {
      record[key] = value;
    }
    return record;
  });
}
function bigintMapEncoder(valueEncoder) {
  const entryEncoder = contramapBufferEncoders([uint64Encoder, valueEncoder], ([key, value]) => [key, value]);
  return contramapBufferEncoder(varLenTypeEncoder(entryEncoder), (map) => Array.from(map.entries()));
}
function decodeBigintMap(decodeValue) {
  return mapDecoder(decodeVarLenType(mapDecoders([decodeUint64, decodeValue], (key, value) => [key, value])), (entries) => new Map(entries));
}

// ../typescript/node_modules/ts-mls/dist/src/util/constantTimeCompare.js
function constantTimeEqual(a, b) {
  if (a.length !== b.length)
    return false;
  let result = 0;
  for (let i = 0; i < a.length; i++) {
    result |= a[i] ^ b[i];
  }
  return result === 0;
}

// ../typescript/node_modules/ts-mls/dist/src/extension.js
var extensionTypeEncoder = (t) => typeof t === "number" ? uint16Encoder(t) : defaultExtensionTypeEncoder(t);
var encodeExtensionType = encode(extensionTypeEncoder);
var decodeExtensionType = orDecoder(decodeDefaultExtensionType, decodeUint16);
var extensionEncoder = contramapBufferEncoders([extensionTypeEncoder, varLenDataEncoder], (e) => [e.extensionType, e.extensionData]);
var encodeExtension = encode(extensionEncoder);
var decodeExtension = mapDecoders([decodeExtensionType, decodeVarLenData], (extensionType, extensionData) => ({ extensionType, extensionData }));
function extensionEqual(a, b) {
  return a.extensionType === b.extensionType && constantTimeEqual(a.extensionData, b.extensionData);
}
function extensionsEqual(a, b) {
  if (a.length !== b.length)
    return false;
  return a.every((val, i) => extensionEqual(val, b[i]));
}
function extensionsSupportedByCapabilities(requiredExtensions, capabilities) {
  return requiredExtensions.filter((ex) => !isDefaultExtension(ex.extensionType)).every((ex) => capabilities.extensions.includes(extensionTypeToNumber(ex.extensionType)));
}
function isDefaultExtension(t) {
  return typeof t !== "number";
}
function extensionTypeToNumber(t) {
  return typeof t === "number" ? t : defaultExtensionTypes[t];
}

// ../typescript/node_modules/ts-mls/dist/src/credentialType.js
var credentialTypes = {
  basic: 1,
  x509: 2
};
var credentialTypeEncoder = contramapBufferEncoder(uint16Encoder, openEnumNumberEncoder(credentialTypes));
var encodeCredentialType = encode(credentialTypeEncoder);
var decodeCredentialType = mapDecoderOption(decodeUint16, openEnumNumberToKey(credentialTypes));

// ../typescript/node_modules/ts-mls/dist/src/credential.js
var credentialBasicEncoder = contramapBufferEncoders([credentialTypeEncoder, varLenDataEncoder], (c) => [c.credentialType, c.identity]);
var encodeCredentialBasic = encode(credentialBasicEncoder);
var credentialX509Encoder = contramapBufferEncoders([credentialTypeEncoder, varLenTypeEncoder(varLenDataEncoder)], (c) => [c.credentialType, c.certificates]);
var encodeCredentialX509 = encode(credentialX509Encoder);
var credentialCustomEncoder = contramapBufferEncoders([credentialTypeEncoder, varLenDataEncoder], (c) => [c.credentialType, c.data]);
var encodeCredentialCustom = encode(credentialCustomEncoder);
var credentialEncoder = (c) => {
  switch (c.credentialType) {
    case "basic":
      return credentialBasicEncoder(c);
    case "x509":
      return credentialX509Encoder(c);
    default:
      return credentialCustomEncoder(c);
  }
};
var encodeCredential = encode(credentialEncoder);
var decodeCredentialBasic = mapDecoder(decodeVarLenData, (identity) => ({
  credentialType: "basic",
  identity
}));
var decodeCredentialX509 = mapDecoder(decodeVarLenType(decodeVarLenData), (certificates) => ({ credentialType: "x509", certificates }));
var decodeCredential = flatMapDecoder(decodeCredentialType, (credentialType) => {
  switch (credentialType) {
    case "basic":
      return decodeCredentialBasic;
    case "x509":
      return decodeCredentialX509;
  }
});

// ../typescript/node_modules/ts-mls/dist/src/externalSender.js
var externalSenderEncoder = contramapBufferEncoders([varLenDataEncoder, credentialEncoder], (e) => [e.signaturePublicKey, e.credential]);
var encodeExternalSender = encode(externalSenderEncoder);
var decodeExternalSender = mapDecoders([decodeVarLenData, decodeCredential], (signaturePublicKey, credential) => ({ signaturePublicKey, credential }));

// ../typescript/node_modules/ts-mls/dist/src/crypto/hash.js
function refhash(label, value, h2) {
  return h2.digest(encodeRefHash(label, value));
}
function encodeRefHash(label, value) {
  const labelBytes = new TextEncoder().encode(label);
  const enc = composeBufferEncoders([varLenDataEncoder, varLenDataEncoder]);
  return encode(enc)([labelBytes, value]);
}

// ../typescript/node_modules/ts-mls/dist/src/codec/optional.js
function optionalEncoder(encodeT) {
  return (t) => {
    if (t) {
      const [len, write] = encodeT(t);
      return [
        len + 1,
        (offset, buffer) => {
          const view = new DataView(buffer);
          view.setUint8(offset, 1);
          write(offset + 1, buffer);
        }
      ];
    } else {
      return [
        1,
        (offset, buffer) => {
          const view = new DataView(buffer);
          view.setUint8(offset, 0);
        }
      ];
    }
  };
}
function decodeOptional(decodeT) {
  return (b, offset) => {
    const presenceOctet = decodeUint8(b, offset)?.[0];
    if (presenceOctet == 1) {
      const result = decodeT(b, offset + 1);
      return result === void 0 ? void 0 : [result[0], result[1] + 1];
    } else {
      return [void 0, 1];
    }
  };
}

// ../typescript/node_modules/ts-mls/dist/src/crypto/ciphersuite.js
var ciphersuites = {
  MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519: 1,
  MLS_128_DHKEMP256_AES128GCM_SHA256_P256: 2,
  MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519: 3,
  MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448: 4,
  MLS_256_DHKEMP521_AES256GCM_SHA512_P521: 5,
  MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448: 6,
  MLS_256_DHKEMP384_AES256GCM_SHA384_P384: 7,
  MLS_128_MLKEM512_AES128GCM_SHA256_Ed25519: 77,
  MLS_128_MLKEM512_CHACHA20POLY1305_SHA256_Ed25519: 78,
  MLS_256_MLKEM768_AES256GCM_SHA384_Ed25519: 79,
  MLS_256_MLKEM768_CHACHA20POLY1305_SHA384_Ed25519: 80,
  MLS_256_MLKEM1024_AES256GCM_SHA512_Ed25519: 81,
  MLS_256_MLKEM1024_CHACHA20POLY1305_SHA512_Ed25519: 82,
  MLS_256_XWING_AES256GCM_SHA512_Ed25519: 83,
  MLS_256_XWING_CHACHA20POLY1305_SHA512_Ed25519: 84,
  MLS_256_MLKEM1024_AES256GCM_SHA512_MLDSA87: 85,
  MLS_256_MLKEM1024_CHACHA20POLY1305_SHA512_MLDSA87: 86,
  MLS_256_XWING_AES256GCM_SHA512_MLDSA87: 87,
  MLS_256_XWING_CHACHA20POLY1305_SHA512_MLDSA87: 88
};
var ciphersuiteEncoder = contramapBufferEncoder(uint16Encoder, openEnumNumberEncoder(ciphersuites));
var encodeCiphersuite = encode(ciphersuiteEncoder);
var decodeCiphersuite = mapDecoderOption(decodeUint16, openEnumNumberToKey(ciphersuites));
function getCiphersuiteFromName(name) {
  return ciphersuiteValues[ciphersuites[name]];
}
var ciphersuiteValues = {
  1: {
    hash: "SHA-256",
    hpke: {
      kem: "DHKEM-X25519-HKDF-SHA256",
      aead: "AES128GCM",
      kdf: "HKDF-SHA256"
    },
    signature: "Ed25519",
    name: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"
  },
  2: {
    hash: "SHA-256",
    hpke: {
      kem: "DHKEM-P256-HKDF-SHA256",
      aead: "AES128GCM",
      kdf: "HKDF-SHA256"
    },
    signature: "P256",
    name: "MLS_128_DHKEMP256_AES128GCM_SHA256_P256"
  },
  3: {
    hash: "SHA-256",
    hpke: {
      kem: "DHKEM-X25519-HKDF-SHA256",
      aead: "CHACHA20POLY1305",
      kdf: "HKDF-SHA256"
    },
    signature: "Ed25519",
    name: "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519"
  },
  4: {
    hash: "SHA-512",
    hpke: {
      kem: "DHKEM-X448-HKDF-SHA512",
      aead: "AES256GCM",
      kdf: "HKDF-SHA512"
    },
    signature: "Ed448",
    name: "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448"
  },
  5: {
    hash: "SHA-512",
    hpke: {
      kem: "DHKEM-P521-HKDF-SHA512",
      aead: "AES256GCM",
      kdf: "HKDF-SHA512"
    },
    signature: "P521",
    name: "MLS_256_DHKEMP521_AES256GCM_SHA512_P521"
  },
  6: {
    hash: "SHA-512",
    hpke: {
      kem: "DHKEM-X448-HKDF-SHA512",
      aead: "CHACHA20POLY1305",
      kdf: "HKDF-SHA512"
    },
    signature: "Ed448",
    name: "MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448"
  },
  7: {
    hash: "SHA-384",
    hpke: {
      kem: "DHKEM-P384-HKDF-SHA384",
      aead: "AES256GCM",
      kdf: "HKDF-SHA384"
    },
    signature: "P384",
    name: "MLS_256_DHKEMP384_AES256GCM_SHA384_P384"
  },
  77: {
    hash: "SHA-256",
    hpke: {
      kem: "ML-KEM-512",
      aead: "AES256GCM",
      kdf: "HKDF-SHA512"
    },
    signature: "Ed25519",
    name: "MLS_128_MLKEM512_AES128GCM_SHA256_Ed25519"
  },
  78: {
    hash: "SHA-256",
    hpke: {
      kem: "ML-KEM-512",
      aead: "CHACHA20POLY1305",
      kdf: "HKDF-SHA512"
    },
    signature: "Ed25519",
    name: "MLS_128_MLKEM512_CHACHA20POLY1305_SHA256_Ed25519"
  },
  79: {
    hash: "SHA-384",
    hpke: {
      kem: "ML-KEM-768",
      aead: "AES256GCM",
      kdf: "HKDF-SHA512"
    },
    signature: "Ed25519",
    name: "MLS_256_MLKEM768_AES256GCM_SHA384_Ed25519"
  },
  80: {
    hash: "SHA-384",
    hpke: {
      kem: "ML-KEM-768",
      aead: "CHACHA20POLY1305",
      kdf: "HKDF-SHA512"
    },
    signature: "Ed25519",
    name: "MLS_256_MLKEM768_CHACHA20POLY1305_SHA384_Ed25519"
  },
  81: {
    hash: "SHA-512",
    hpke: {
      kem: "ML-KEM-1024",
      aead: "AES256GCM",
      kdf: "HKDF-SHA512"
    },
    signature: "Ed25519",
    name: "MLS_256_MLKEM1024_AES256GCM_SHA512_Ed25519"
  },
  82: {
    hash: "SHA-512",
    hpke: {
      kem: "ML-KEM-1024",
      aead: "CHACHA20POLY1305",
      kdf: "HKDF-SHA512"
    },
    signature: "Ed25519",
    name: "MLS_256_MLKEM1024_CHACHA20POLY1305_SHA512_Ed25519"
  },
  83: {
    hash: "SHA-512",
    hpke: {
      kem: "X-Wing",
      aead: "AES256GCM",
      kdf: "HKDF-SHA512"
    },
    signature: "Ed25519",
    name: "MLS_256_XWING_AES256GCM_SHA512_Ed25519"
  },
  84: {
    hash: "SHA-512",
    hpke: {
      kem: "X-Wing",
      aead: "CHACHA20POLY1305",
      kdf: "HKDF-SHA512"
    },
    signature: "Ed25519",
    name: "MLS_256_XWING_CHACHA20POLY1305_SHA512_Ed25519"
  },
  85: {
    hash: "SHA-512",
    hpke: {
      kem: "ML-KEM-1024",
      aead: "AES256GCM",
      kdf: "HKDF-SHA512"
    },
    signature: "ML-DSA-87",
    name: "MLS_256_MLKEM1024_AES256GCM_SHA512_MLDSA87"
  },
  86: {
    hash: "SHA-512",
    hpke: {
      kem: "ML-KEM-1024",
      aead: "CHACHA20POLY1305",
      kdf: "HKDF-SHA512"
    },
    signature: "ML-DSA-87",
    name: "MLS_256_MLKEM1024_CHACHA20POLY1305_SHA512_MLDSA87"
  },
  87: {
    hash: "SHA-512",
    hpke: {
      kem: "X-Wing",
      aead: "AES256GCM",
      kdf: "HKDF-SHA512"
    },
    signature: "ML-DSA-87",
    name: "MLS_256_XWING_AES256GCM_SHA512_MLDSA87"
  },
  88: {
    hash: "SHA-512",
    hpke: {
      kem: "X-Wing",
      aead: "CHACHA20POLY1305",
      kdf: "HKDF-SHA512"
    },
    signature: "ML-DSA-87",
    name: "MLS_256_XWING_CHACHA20POLY1305_SHA512_MLDSA87"
  }
};

// ../typescript/node_modules/ts-mls/dist/src/crypto/signature.js
async function signWithLabel(signKey, label, content, s) {
  return s.sign(signKey, encode(composeBufferEncoders([varLenDataEncoder, varLenDataEncoder]))([
    new TextEncoder().encode(`MLS 1.0 ${label}`),
    content
  ]));
}
async function verifyWithLabel(publicKey, label, content, signature, s) {
  return s.verify(publicKey, encode(composeBufferEncoders([varLenDataEncoder, varLenDataEncoder]))([
    new TextEncoder().encode(`MLS 1.0 ${label}`),
    content
  ]), signature);
}

// ../typescript/node_modules/ts-mls/dist/src/protocolVersion.js
var protocolVersions = {
  mls10: 1
};
var protocolVersionEncoder = contramapBufferEncoder(uint16Encoder, (t) => protocolVersions[t]);
var encodeProtocolVersion = encode(protocolVersionEncoder);
var decodeProtocolVersion = mapDecoderOption(decodeUint16, enumNumberToKey(protocolVersions));

// ../typescript/node_modules/ts-mls/dist/src/capabilities.js
var capabilitiesEncoder = contramapBufferEncoders([
  varLenTypeEncoder(protocolVersionEncoder),
  varLenTypeEncoder(ciphersuiteEncoder),
  varLenTypeEncoder(uint16Encoder),
  varLenTypeEncoder(uint16Encoder),
  varLenTypeEncoder(credentialTypeEncoder)
], (cap) => [cap.versions, cap.ciphersuites, cap.extensions, cap.proposals, cap.credentials]);
var encodeCapabilities = encode(capabilitiesEncoder);
var decodeCapabilities = mapDecoders([
  decodeVarLenType(decodeProtocolVersion),
  decodeVarLenType(decodeCiphersuite),
  decodeVarLenType(decodeUint16),
  decodeVarLenType(decodeUint16),
  decodeVarLenType(decodeCredentialType)
], (versions, ciphersuites2, extensions, proposals, credentials) => ({
  versions,
  ciphersuites: ciphersuites2,
  extensions,
  proposals,
  credentials
}));

// ../typescript/node_modules/ts-mls/dist/src/leafNodeSource.js
var leafNodeSources = {
  key_package: 1,
  update: 2,
  commit: 3
};
var leafNodeSourceEncoder = contramapBufferEncoder(uint8Encoder, (t) => leafNodeSources[t]);
var encodeLeafNodeSource = encode(leafNodeSourceEncoder);
var decodeLeafNodeSource = mapDecoderOption(decodeUint8, enumNumberToKey(leafNodeSources));

// ../typescript/node_modules/ts-mls/dist/src/lifetime.js
var lifetimeEncoder = contramapBufferEncoders([uint64Encoder, uint64Encoder], (lt) => [lt.notBefore, lt.notAfter]);
var encodeLifetime = encode(lifetimeEncoder);
var decodeLifetime = mapDecoders([decodeUint64, decodeUint64], (notBefore, notAfter) => ({
  notBefore,
  notAfter
}));
var defaultLifetime = {
  notBefore: 0n,
  notAfter: 9223372036854775807n
};

// ../typescript/node_modules/ts-mls/dist/src/leafNode.js
var leafNodeDataEncoder = contramapBufferEncoders([varLenDataEncoder, varLenDataEncoder, credentialEncoder, capabilitiesEncoder], (data) => [data.hpkePublicKey, data.signaturePublicKey, data.credential, data.capabilities]);
var encodeLeafNodeData = encode(leafNodeDataEncoder);
var decodeLeafNodeData = mapDecoders([decodeVarLenData, decodeVarLenData, decodeCredential, decodeCapabilities], (hpkePublicKey, signaturePublicKey, credential, capabilities) => ({
  hpkePublicKey,
  signaturePublicKey,
  credential,
  capabilities
}));
var leafNodeInfoKeyPackageEncoder = contramapBufferEncoders([leafNodeSourceEncoder, lifetimeEncoder, varLenTypeEncoder(extensionEncoder)], (info) => ["key_package", info.lifetime, info.extensions]);
var encodeLeafNodeInfoKeyPackage = encode(leafNodeInfoKeyPackageEncoder);
var leafNodeInfoUpdateOmittedEncoder = contramapBufferEncoders([leafNodeSourceEncoder, varLenTypeEncoder(extensionEncoder)], (i) => [i.leafNodeSource, i.extensions]);
var encodeLeafNodeInfoUpdateOmitted = encode(leafNodeInfoUpdateOmittedEncoder);
var leafNodeInfoCommitOmittedEncoder = contramapBufferEncoders([leafNodeSourceEncoder, varLenDataEncoder, varLenTypeEncoder(extensionEncoder)], (info) => [info.leafNodeSource, info.parentHash, info.extensions]);
var encodeLeafNodeInfoCommitOmitted = encode(leafNodeInfoCommitOmittedEncoder);
var leafNodeInfoOmittedEncoder = (info) => {
  switch (info.leafNodeSource) {
    case "key_package":
      return leafNodeInfoKeyPackageEncoder(info);
    case "update":
      return leafNodeInfoUpdateOmittedEncoder(info);
    case "commit":
      return leafNodeInfoCommitOmittedEncoder(info);
  }
};
var encodeLeafNodeInfoOmitted = encode(leafNodeInfoOmittedEncoder);
var decodeLeafNodeInfoKeyPackage = mapDecoders([decodeLifetime, decodeVarLenType(decodeExtension)], (lifetime, extensions) => ({
  leafNodeSource: "key_package",
  lifetime,
  extensions
}));
var decodeLeafNodeInfoUpdateOmitted = mapDecoder(decodeVarLenType(decodeExtension), (extensions) => ({
  leafNodeSource: "update",
  extensions
}));
var decodeLeafNodeInfoCommitOmitted = mapDecoders([decodeVarLenData, decodeVarLenType(decodeExtension)], (parentHash, extensions) => ({
  leafNodeSource: "commit",
  parentHash,
  extensions
}));
var decodeLeafNodeInfoOmitted = flatMapDecoder(decodeLeafNodeSource, (leafNodeSource) => {
  switch (leafNodeSource) {
    case "key_package":
      return decodeLeafNodeInfoKeyPackage;
    case "update":
      return decodeLeafNodeInfoUpdateOmitted;
    case "commit":
      return decodeLeafNodeInfoCommitOmitted;
  }
});
var leafNodeInfoUpdateEncoder = contramapBufferEncoders([leafNodeInfoUpdateOmittedEncoder, varLenDataEncoder, uint32Encoder], (i) => [i, i.groupId, i.leafIndex]);
var encodeLeafNodeInfoUpdate = encode(leafNodeInfoUpdateEncoder);
var leafNodeInfoCommitEncoder = contramapBufferEncoders([leafNodeInfoCommitOmittedEncoder, varLenDataEncoder, uint32Encoder], (info) => [info, info.groupId, info.leafIndex]);
var encodeLeafNodeInfoCommit = encode(leafNodeInfoCommitEncoder);
var leafNodeInfoEncoder = (info) => {
  switch (info.leafNodeSource) {
    case "key_package":
      return leafNodeInfoKeyPackageEncoder(info);
    case "update":
      return leafNodeInfoUpdateEncoder(info);
    case "commit":
      return leafNodeInfoCommitEncoder(info);
  }
};
var encodeLeafNodeInfo = encode(leafNodeInfoEncoder);
var decodeLeafNodeInfoUpdate = mapDecoders([decodeLeafNodeInfoUpdateOmitted, decodeVarLenData, decodeUint32], (ln, groupId, leafIndex) => ({
  ...ln,
  groupId,
  leafIndex
}));
var decodeLeafNodeInfoCommit = mapDecoders([decodeLeafNodeInfoCommitOmitted, decodeVarLenData, decodeUint32], (ln, groupId, leafIndex) => ({
  ...ln,
  groupId,
  leafIndex
}));
var decodeLeafNodeInfo = flatMapDecoder(decodeLeafNodeSource, (leafNodeSource) => {
  switch (leafNodeSource) {
    case "key_package":
      return decodeLeafNodeInfoKeyPackage;
    case "update":
      return decodeLeafNodeInfoUpdate;
    case "commit":
      return decodeLeafNodeInfoCommit;
  }
});
var leafNodeTBSEncoder = contramapBufferEncoders([leafNodeDataEncoder, leafNodeInfoEncoder], (tbs) => [tbs, tbs]);
var encodeLeafNodeTBS = encode(leafNodeTBSEncoder);
var leafNodeEncoder = contramapBufferEncoders([leafNodeDataEncoder, leafNodeInfoOmittedEncoder, varLenDataEncoder], (leafNode) => [leafNode, leafNode, leafNode.signature]);
var encodeLeafNode = encode(leafNodeEncoder);
var decodeLeafNode = mapDecoders([decodeLeafNodeData, decodeLeafNodeInfoOmitted, decodeVarLenData], (data, info, signature) => ({
  ...data,
  ...info,
  signature
}));
var decodeLeafNodeKeyPackage = mapDecoderOption(decodeLeafNode, (ln) => ln.leafNodeSource === "key_package" ? ln : void 0);
var decodeLeafNodeCommit = mapDecoderOption(decodeLeafNode, (ln) => ln.leafNodeSource === "commit" ? ln : void 0);
var decodeLeafNodeUpdate = mapDecoderOption(decodeLeafNode, (ln) => ln.leafNodeSource === "update" ? ln : void 0);
function toTbs(leafNode, groupId, leafIndex) {
  switch (leafNode.leafNodeSource) {
    case "key_package":
      return { ...leafNode, leafNodeSource: leafNode.leafNodeSource };
    case "update":
      return { ...leafNode, leafNodeSource: leafNode.leafNodeSource, groupId, leafIndex };
    case "commit":
      return { ...leafNode, leafNodeSource: leafNode.leafNodeSource, groupId, leafIndex };
  }
}
async function signLeafNodeCommit(tbs, signaturePrivateKey, sig) {
  return {
    ...tbs,
    signature: await signWithLabel(signaturePrivateKey, "LeafNodeTBS", encode(leafNodeTBSEncoder)(tbs), sig)
  };
}
async function signLeafNodeKeyPackage(tbs, signaturePrivateKey, sig) {
  return {
    ...tbs,
    signature: await signWithLabel(signaturePrivateKey, "LeafNodeTBS", encode(leafNodeTBSEncoder)(tbs), sig)
  };
}
function verifyLeafNodeSignature(leaf, groupId, leafIndex, sig) {
  return verifyWithLabel(leaf.signaturePublicKey, "LeafNodeTBS", encode(leafNodeTBSEncoder)(toTbs(leaf, groupId, leafIndex)), leaf.signature, sig);
}
function verifyLeafNodeSignatureKeyPackage(leaf, sig) {
  return verifyWithLabel(leaf.signaturePublicKey, "LeafNodeTBS", encode(leafNodeTBSEncoder)(leaf), leaf.signature, sig);
}

// ../typescript/node_modules/ts-mls/dist/src/keyPackage.js
var keyPackageTBSEncoder = contramapBufferEncoders([protocolVersionEncoder, ciphersuiteEncoder, varLenDataEncoder, leafNodeEncoder, varLenTypeEncoder(extensionEncoder)], (keyPackageTBS) => [
  keyPackageTBS.version,
  keyPackageTBS.cipherSuite,
  keyPackageTBS.initKey,
  keyPackageTBS.leafNode,
  keyPackageTBS.extensions
]);
var encodeKeyPackageTBS = encode(keyPackageTBSEncoder);
var decodeKeyPackageTBS = mapDecoders([
  decodeProtocolVersion,
  decodeCiphersuite,
  decodeVarLenData,
  decodeLeafNodeKeyPackage,
  decodeVarLenType(decodeExtension)
], (version, cipherSuite2, initKey, leafNode, extensions) => ({
  version,
  cipherSuite: cipherSuite2,
  initKey,
  leafNode,
  extensions
}));
var keyPackageEncoder = contramapBufferEncoders([keyPackageTBSEncoder, varLenDataEncoder], (keyPackage) => [keyPackage, keyPackage.signature]);
var encodeKeyPackage = encode(keyPackageEncoder);
var decodeKeyPackage = mapDecoders([decodeKeyPackageTBS, decodeVarLenData], (keyPackageTBS, signature) => ({
  ...keyPackageTBS,
  signature
}));
async function signKeyPackage(tbs, signKey, s) {
  return { ...tbs, signature: await signWithLabel(signKey, "KeyPackageTBS", encode(keyPackageTBSEncoder)(tbs), s) };
}
async function verifyKeyPackage(kp, s) {
  return verifyWithLabel(kp.leafNode.signaturePublicKey, "KeyPackageTBS", encode(keyPackageTBSEncoder)(kp), kp.signature, s);
}
function makeKeyPackageRef(value, h2) {
  return refhash("MLS 1.0 KeyPackage Reference", encode(keyPackageEncoder)(value), h2);
}
async function generateKeyPackageWithKey(credential, capabilities, lifetime, extensions, signatureKeyPair, cs, leafNodeExtensions) {
  const initKeys = await cs.hpke.generateKeyPair();
  const hpkeKeys = await cs.hpke.generateKeyPair();
  const privatePackage = {
    initPrivateKey: await cs.hpke.exportPrivateKey(initKeys.privateKey),
    hpkePrivateKey: await cs.hpke.exportPrivateKey(hpkeKeys.privateKey),
    signaturePrivateKey: signatureKeyPair.signKey
  };
  const leafNodeTbs = {
    leafNodeSource: "key_package",
    hpkePublicKey: await cs.hpke.exportPublicKey(hpkeKeys.publicKey),
    signaturePublicKey: signatureKeyPair.publicKey,
    extensions: leafNodeExtensions ?? [],
    credential,
    capabilities,
    lifetime
  };
  const tbs = {
    version: "mls10",
    cipherSuite: cs.name,
    initKey: await cs.hpke.exportPublicKey(initKeys.publicKey),
    leafNode: await signLeafNodeKeyPackage(leafNodeTbs, signatureKeyPair.signKey, cs.signature),
    extensions
  };
  return { publicPackage: await signKeyPackage(tbs, signatureKeyPair.signKey, cs.signature), privatePackage };
}

// ../typescript/node_modules/ts-mls/dist/src/crypto/kdf.js
function expandWithLabel(secret, label, context, length, kdf) {
  return kdf.expand(secret, encode(composeBufferEncoders([uint16Encoder, varLenDataEncoder, varLenDataEncoder]))([
    length,
    new TextEncoder().encode(`MLS 1.0 ${label}`),
    context
  ]), length);
}
async function deriveSecret(secret, label, kdf) {
  return expandWithLabel(secret, label, new Uint8Array(), kdf.size, kdf);
}
async function deriveTreeSecret(secret, label, generation, length, kdf) {
  return expandWithLabel(secret, label, encode(uint32Encoder)(generation), length, kdf);
}

// ../typescript/node_modules/ts-mls/dist/src/presharedkey.js
var pskTypes = {
  external: 1,
  resumption: 2
};
var pskTypeEncoder = contramapBufferEncoder(uint8Encoder, (t) => pskTypes[t]);
var encodePskType = encode(pskTypeEncoder);
var decodePskType = mapDecoderOption(decodeUint8, enumNumberToKey(pskTypes));
var resumptionPSKUsages = {
  application: 1,
  reinit: 2,
  branch: 3
};
var resumptionPSKUsageEncoder = contramapBufferEncoder(uint8Encoder, (u) => resumptionPSKUsages[u]);
var encodeResumptionPSKUsage = encode(resumptionPSKUsageEncoder);
var decodeResumptionPSKUsage = mapDecoderOption(decodeUint8, enumNumberToKey(resumptionPSKUsages));
var encodePskInfoExternal = contramapBufferEncoders([pskTypeEncoder, varLenDataEncoder], (i) => [i.psktype, i.pskId]);
var encodePskInfoResumption = contramapBufferEncoders([pskTypeEncoder, resumptionPSKUsageEncoder, varLenDataEncoder, uint64Encoder], (info) => [info.psktype, info.usage, info.pskGroupId, info.pskEpoch]);
var decodePskInfoResumption = mapDecoders([decodeResumptionPSKUsage, decodeVarLenData, decodeUint64], (usage, pskGroupId, pskEpoch) => {
  return { usage, pskGroupId, pskEpoch };
});
var pskInfoEncoder = (info) => {
  switch (info.psktype) {
    case "external":
      return encodePskInfoExternal(info);
    case "resumption":
      return encodePskInfoResumption(info);
  }
};
var encodePskInfo = encode(pskInfoEncoder);
var decodePskInfo = flatMapDecoder(decodePskType, (psktype) => {
  switch (psktype) {
    case "external":
      return mapDecoder(decodeVarLenData, (pskId) => ({
        psktype,
        pskId
      }));
    case "resumption":
      return mapDecoder(decodePskInfoResumption, (resumption) => ({
        psktype,
        ...resumption
      }));
  }
});
var pskIdEncoder = contramapBufferEncoders([pskInfoEncoder, varLenDataEncoder], (pskid) => [pskid, pskid.pskNonce]);
var encodePskId = encode(pskIdEncoder);
var decodePskId = mapDecoders([decodePskInfo, decodeVarLenData], (info, pskNonce) => ({ ...info, pskNonce }));
var pskLabelEncoder = contramapBufferEncoders([pskIdEncoder, uint16Encoder, uint16Encoder], (label) => [label.id, label.index, label.count]);
var encodePskLabel = encode(pskLabelEncoder);
var decodePskLabel = mapDecoders([decodePskId, decodeUint16, decodeUint16], (id, index, count) => ({ id, index, count }));
async function updatePskSecret(secret, pskId, psk, index, count, impl) {
  const zeroes = new Uint8Array(impl.kdf.size);
  return impl.kdf.extract(await expandWithLabel(await impl.kdf.extract(zeroes, psk), "derived psk", encode(pskLabelEncoder)({ id: pskId, index, count }), impl.kdf.size, impl.kdf), secret);
}

// ../typescript/node_modules/ts-mls/dist/src/proposal.js
var addEncoder = contramapBufferEncoder(keyPackageEncoder, (a) => a.keyPackage);
var encodeAdd = encode(addEncoder);
var decodeAdd = mapDecoder(decodeKeyPackage, (keyPackage) => ({ keyPackage }));
var updateEncoder = contramapBufferEncoder(leafNodeEncoder, (u) => u.leafNode);
var encodeUpdate = encode(updateEncoder);
var decodeUpdate = mapDecoder(decodeLeafNodeUpdate, (leafNode) => ({ leafNode }));
var removeEncoder = contramapBufferEncoder(uint32Encoder, (r) => r.removed);
var encodeRemove = encode(removeEncoder);
var decodeRemove = mapDecoder(decodeUint32, (removed) => ({ removed }));
var pskEncoder = contramapBufferEncoder(pskIdEncoder, (p) => p.preSharedKeyId);
var encodePSK = encode(pskEncoder);
var decodePSK = mapDecoder(decodePskId, (preSharedKeyId) => ({ preSharedKeyId }));
var reinitEncoder = contramapBufferEncoders([varLenDataEncoder, protocolVersionEncoder, ciphersuiteEncoder, varLenTypeEncoder(extensionEncoder)], (r) => [r.groupId, r.version, r.cipherSuite, r.extensions]);
var encodeReinit = encode(reinitEncoder);
var decodeReinit = mapDecoders([decodeVarLenData, decodeProtocolVersion, decodeCiphersuite, decodeVarLenType(decodeExtension)], (groupId, version, cipherSuite2, extensions) => ({ groupId, version, cipherSuite: cipherSuite2, extensions }));
var externalInitEncoder = contramapBufferEncoder(varLenDataEncoder, (e) => e.kemOutput);
var encodeExternalInit = encode(externalInitEncoder);
var decodeExternalInit = mapDecoder(decodeVarLenData, (kemOutput) => ({ kemOutput }));
var groupContextExtensionsEncoder = contramapBufferEncoder(varLenTypeEncoder(extensionEncoder), (g) => g.extensions);
var encodeGroupContextExtensions = encode(groupContextExtensionsEncoder);
var decodeGroupContextExtensions = mapDecoder(decodeVarLenType(decodeExtension), (extensions) => ({ extensions }));
var proposalAddEncoder = contramapBufferEncoders([defaultProposalTypeEncoder, addEncoder], (p) => [p.proposalType, p.add]);
var encodeProposalAdd = encode(proposalAddEncoder);
var proposalUpdateEncoder = contramapBufferEncoders([defaultProposalTypeEncoder, updateEncoder], (p) => [p.proposalType, p.update]);
var encodeProposalUpdate = encode(proposalUpdateEncoder);
var proposalRemoveEncoder = contramapBufferEncoders([defaultProposalTypeEncoder, removeEncoder], (p) => [p.proposalType, p.remove]);
var encodeProposalRemove = encode(proposalRemoveEncoder);
var proposalPSKEncoder = contramapBufferEncoders([defaultProposalTypeEncoder, pskEncoder], (p) => [p.proposalType, p.psk]);
var encodeProposalPSK = encode(proposalPSKEncoder);
var proposalReinitEncoder = contramapBufferEncoders([defaultProposalTypeEncoder, reinitEncoder], (p) => [p.proposalType, p.reinit]);
var encodeProposalReinit = encode(proposalReinitEncoder);
var proposalExternalInitEncoder = contramapBufferEncoders([defaultProposalTypeEncoder, externalInitEncoder], (p) => [p.proposalType, p.externalInit]);
var encodeProposalExternalInit = encode(proposalExternalInitEncoder);
var proposalGroupContextExtensionsEncoder = contramapBufferEncoders([defaultProposalTypeEncoder, groupContextExtensionsEncoder], (p) => [p.proposalType, p.groupContextExtensions]);
var encodeProposalGroupContextExtensions = encode(proposalGroupContextExtensionsEncoder);
var proposalCustomEncoder = contramapBufferEncoders([uint16Encoder, varLenDataEncoder], (p) => [p.proposalType, p.proposalData]);
var encodeProposalCustom = encode(proposalCustomEncoder);
var proposalEncoder = (p) => {
  switch (p.proposalType) {
    case "add":
      return proposalAddEncoder(p);
    case "update":
      return proposalUpdateEncoder(p);
    case "remove":
      return proposalRemoveEncoder(p);
    case "psk":
      return proposalPSKEncoder(p);
    case "reinit":
      return proposalReinitEncoder(p);
    case "external_init":
      return proposalExternalInitEncoder(p);
    case "group_context_extensions":
      return proposalGroupContextExtensionsEncoder(p);
    default:
      return proposalCustomEncoder(p);
  }
};
var encodeProposal = encode(proposalEncoder);
var decodeProposalAdd = mapDecoder(decodeAdd, (add3) => ({ proposalType: "add", add: add3 }));
var decodeProposalUpdate = mapDecoder(decodeUpdate, (update) => ({
  proposalType: "update",
  update
}));
var decodeProposalRemove = mapDecoder(decodeRemove, (remove) => ({
  proposalType: "remove",
  remove
}));
var decodeProposalPSK = mapDecoder(decodePSK, (psk) => ({ proposalType: "psk", psk }));
var decodeProposalReinit = mapDecoder(decodeReinit, (reinit) => ({
  proposalType: "reinit",
  reinit
}));
var decodeProposalExternalInit = mapDecoder(decodeExternalInit, (externalInit) => ({ proposalType: "external_init", externalInit }));
var decodeProposalGroupContextExtensions = mapDecoder(decodeGroupContextExtensions, (groupContextExtensions) => ({ proposalType: "group_context_extensions", groupContextExtensions }));
function decodeProposalCustom(proposalType) {
  return mapDecoder(decodeVarLenData, (proposalData) => ({ proposalType, proposalData }));
}
var decodeProposal = orDecoder(flatMapDecoder(decodeDefaultProposalType, (proposalType) => {
  switch (proposalType) {
    case "add":
      return decodeProposalAdd;
    case "update":
      return decodeProposalUpdate;
    case "remove":
      return decodeProposalRemove;
    case "psk":
      return decodeProposalPSK;
    case "reinit":
      return decodeProposalReinit;
    case "external_init":
      return decodeProposalExternalInit;
    case "group_context_extensions":
      return decodeProposalGroupContextExtensions;
  }
}), flatMapDecoder(decodeUint16, (n) => decodeProposalCustom(n)));

// ../typescript/node_modules/ts-mls/dist/src/proposalOrRefType.js
var proposalOrRefTypes = {
  proposal: 1,
  reference: 2
};
var proposalOrRefTypeEncoder = contramapBufferEncoder(uint8Encoder, (t) => proposalOrRefTypes[t]);
var encodeProposalOrRefType = encode(proposalOrRefTypeEncoder);
var decodeProposalOrRefType = mapDecoderOption(decodeUint8, enumNumberToKey(proposalOrRefTypes));
var proposalOrRefProposalEncoder = contramapBufferEncoders([proposalOrRefTypeEncoder, proposalEncoder], (p) => [p.proposalOrRefType, p.proposal]);
var encodeProposalOrRefProposal = encode(proposalOrRefProposalEncoder);
var proposalOrRefProposalRefEncoder = contramapBufferEncoders([proposalOrRefTypeEncoder, varLenDataEncoder], (r) => [r.proposalOrRefType, r.reference]);
var encodeProposalOrRefProposalRef = encode(proposalOrRefProposalRefEncoder);
var proposalOrRefEncoder = (input) => {
  switch (input.proposalOrRefType) {
    case "proposal":
      return proposalOrRefProposalEncoder(input);
    case "reference":
      return proposalOrRefProposalRefEncoder(input);
  }
};
var encodeProposalOrRef = encode(proposalOrRefEncoder);
var decodeProposalOrRef = flatMapDecoder(decodeProposalOrRefType, (proposalOrRefType) => {
  switch (proposalOrRefType) {
    case "proposal":
      return mapDecoder(decodeProposal, (proposal) => ({ proposalOrRefType, proposal }));
    case "reference":
      return mapDecoder(decodeVarLenData, (reference) => ({ proposalOrRefType, reference }));
  }
});

// ../typescript/node_modules/ts-mls/dist/src/crypto/hpke.js
function encryptWithLabel(publicKey, label, context, plaintext, hpke) {
  return hpke.seal(publicKey, plaintext, encode(composeBufferEncoders([varLenDataEncoder, varLenDataEncoder]))([
    new TextEncoder().encode(`MLS 1.0 ${label}`),
    context
  ]), new Uint8Array());
}
function decryptWithLabel(privateKey, label, context, kemOutput, ciphertext, hpke) {
  return hpke.open(privateKey, kemOutput, ciphertext, encode(composeBufferEncoders([varLenDataEncoder, varLenDataEncoder]))([
    new TextEncoder().encode(`MLS 1.0 ${label}`),
    context
  ]));
}

// ../typescript/node_modules/ts-mls/dist/src/groupContext.js
var groupContextEncoder = contramapBufferEncoders([
  protocolVersionEncoder,
  ciphersuiteEncoder,
  varLenDataEncoder,
  // groupId
  uint64Encoder,
  // epoch
  varLenDataEncoder,
  // treeHash
  varLenDataEncoder,
  // confirmedTranscriptHash
  varLenTypeEncoder(extensionEncoder)
], (gc) => [gc.version, gc.cipherSuite, gc.groupId, gc.epoch, gc.treeHash, gc.confirmedTranscriptHash, gc.extensions]);
var encodeGroupContext = encode(groupContextEncoder);
var decodeGroupContext = mapDecoders([
  decodeProtocolVersion,
  decodeCiphersuite,
  decodeVarLenData,
  // groupId
  decodeUint64,
  // epoch
  decodeVarLenData,
  // treeHash
  decodeVarLenData,
  // confirmedTranscriptHash
  decodeVarLenType(decodeExtension)
], (version, cipherSuite2, groupId, epoch, treeHash2, confirmedTranscriptHash, extensions) => ({
  version,
  cipherSuite: cipherSuite2,
  groupId,
  epoch,
  treeHash: treeHash2,
  confirmedTranscriptHash,
  extensions
}));
async function extractEpochSecret(context, joinerSecret, kdf, pskSecret) {
  const psk = pskSecret === void 0 ? new Uint8Array(kdf.size) : pskSecret;
  const extracted = await kdf.extract(joinerSecret, psk);
  return expandWithLabel(extracted, "epoch", encode(groupContextEncoder)(context), kdf.size, kdf);
}
async function extractJoinerSecret(context, previousInitSecret, commitSecret, kdf) {
  const extracted = await kdf.extract(previousInitSecret, commitSecret);
  return expandWithLabel(extracted, "joiner", encode(groupContextEncoder)(context), kdf.size, kdf);
}

// ../typescript/node_modules/ts-mls/dist/src/nodeType.js
var nodeTypes = {
  leaf: 1,
  parent: 2
};
var nodeTypeEncoder = contramapBufferEncoder(uint8Encoder, (t) => nodeTypes[t]);
var encodeNodeType = encode(nodeTypeEncoder);
var decodeNodeType = mapDecoderOption(decodeUint8, enumNumberToKey(nodeTypes));

// ../typescript/node_modules/ts-mls/dist/src/parentNode.js
var parentNodeEncoder = contramapBufferEncoders([varLenDataEncoder, varLenDataEncoder, varLenTypeEncoder(uint32Encoder)], (node) => [node.hpkePublicKey, node.parentHash, node.unmergedLeaves]);
var encodeParentNode = encode(parentNodeEncoder);
var decodeParentNode = mapDecoders([decodeVarLenData, decodeVarLenData, decodeVarLenType(decodeUint32)], (hpkePublicKey, parentHash, unmergedLeaves) => ({
  hpkePublicKey,
  parentHash,
  unmergedLeaves
}));

// ../typescript/node_modules/ts-mls/dist/src/treemath.js
function toNodeIndex(n) {
  return n;
}
function toLeafIndex(n) {
  return n;
}
function log2(x) {
  if (x === 0)
    return 0;
  let k = 0;
  while (x >> k > 0) {
    k++;
  }
  return k - 1;
}
function level(nodeIndex) {
  if ((nodeIndex & 1) === 0)
    return 0;
  let k = 0;
  while ((nodeIndex >> k & 1) === 1) {
    k++;
  }
  return k;
}
function isLeaf(nodeIndex) {
  return nodeIndex % 2 == 0;
}
function leafToNodeIndex(leafIndex) {
  return toNodeIndex(leafIndex * 2);
}
function nodeToLeafIndex(nodeIndex) {
  return toLeafIndex(nodeIndex / 2);
}
function leafWidth(nodeWidth2) {
  return nodeWidth2 == 0 ? 0 : (nodeWidth2 - 1) / 2 + 1;
}
function nodeWidth(leafWidth2) {
  return leafWidth2 === 0 ? 0 : 2 * (leafWidth2 - 1) + 1;
}
function rootFromNodeWidth(nodeWidth2) {
  return toNodeIndex((1 << log2(nodeWidth2)) - 1);
}
function root(leafWidth2) {
  const w = nodeWidth(leafWidth2);
  return rootFromNodeWidth(w);
}
function left(nodeIndex) {
  const k = level(nodeIndex);
  if (k === 0)
    throw new InternalError("leaf node has no children");
  return toNodeIndex(nodeIndex ^ 1 << k - 1);
}
function right(nodeIndex) {
  const k = level(nodeIndex);
  if (k === 0)
    throw new InternalError("leaf node has no children");
  return toNodeIndex(nodeIndex ^ 3 << k - 1);
}
function parent(nodeIndex, leafWidth2) {
  if (nodeIndex === root(leafWidth2))
    throw new InternalError("root node has no parent");
  const k = level(nodeIndex);
  const b = nodeIndex >> k + 1 & 1;
  return toNodeIndex((nodeIndex | 1 << k) ^ b << k + 1);
}
function sibling(x, leafWidth2) {
  const p = parent(x, leafWidth2);
  return x < p ? right(p) : left(p);
}
function directPath(nodeIndex, leafWidth2) {
  const r = root(leafWidth2);
  if (nodeIndex === r)
    return [];
  const d = [];
  while (nodeIndex !== r) {
    nodeIndex = parent(nodeIndex, leafWidth2);
    d.push(nodeIndex);
  }
  return d;
}
function copath(nodeIndex, leafWidth2) {
  if (nodeIndex === root(leafWidth2))
    return [];
  const d = directPath(nodeIndex, leafWidth2);
  d.unshift(nodeIndex);
  d.pop();
  return d.map((y) => sibling(y, leafWidth2));
}
function isAncestor(childNodeIndex, ancestor, nodeWidth2) {
  return directPath(childNodeIndex, leafWidth(nodeWidth2)).includes(ancestor);
}

// ../typescript/node_modules/ts-mls/dist/src/ratchetTree.js
var nodeEncoder = (node) => {
  switch (node.nodeType) {
    case "parent":
      return contramapBufferEncoders([nodeTypeEncoder, parentNodeEncoder], (n) => [n.nodeType, n.parent])(node);
    case "leaf":
      return contramapBufferEncoders([nodeTypeEncoder, leafNodeEncoder], (n) => [n.nodeType, n.leaf])(node);
  }
};
var encodeNode = encode(nodeEncoder);
var decodeNode = flatMapDecoder(decodeNodeType, (nodeType) => {
  switch (nodeType) {
    case "parent":
      return mapDecoder(decodeParentNode, (parent2) => ({
        nodeType,
        parent: parent2
      }));
    case "leaf":
      return mapDecoder(decodeLeafNode, (leaf) => ({
        nodeType,
        leaf
      }));
  }
});
function getHpkePublicKey(n) {
  switch (n.nodeType) {
    case "parent":
      return n.parent.hpkePublicKey;
    case "leaf":
      return n.leaf.hpkePublicKey;
  }
}
function extendRatchetTree(tree) {
  const lastIndex = tree.length - 1;
  if (tree[lastIndex] === void 0) {
    throw new InternalError("The last node in the ratchet tree must be non-blank.");
  }
  const neededSize = nextFullBinaryTreeSize(tree.length);
  const copy = tree.slice();
  while (copy.length < neededSize) {
    copy.push(void 0);
  }
  return copy;
}
function nextFullBinaryTreeSize(n) {
  let d = 0;
  while ((1 << d + 1) - 1 < n) {
    d++;
  }
  return (1 << d + 1) - 1;
}
function stripBlankNodes(tree) {
  let lastNonBlank = tree.length - 1;
  while (lastNonBlank >= 0 && tree[lastNonBlank] === void 0) {
    lastNonBlank--;
  }
  return tree.slice(0, lastNonBlank + 1);
}
var ratchetTreeEncoder = contramapBufferEncoder(varLenTypeEncoder(optionalEncoder(nodeEncoder)), stripBlankNodes);
var encodeRatchetTree = encode(ratchetTreeEncoder);
var decodeRatchetTree = mapDecoder(decodeVarLenType(decodeOptional(decodeNode)), extendRatchetTree);
function findBlankLeafNodeIndex(tree) {
  const nodeIndex = tree.findIndex((node, nodeIndex2) => node === void 0 && isLeaf(toNodeIndex(nodeIndex2)));
  if (nodeIndex < 0)
    return void 0;
  else
    return toNodeIndex(nodeIndex);
}
function findBlankLeafNodeIndexOrExtend(tree) {
  const blankLeaf = findBlankLeafNodeIndex(tree);
  return blankLeaf === void 0 ? toNodeIndex(tree.length + 1) : blankLeaf;
}
function extendTree(tree, leafNode) {
  const newRoot = void 0;
  const insertedNodeIndex = toNodeIndex(tree.length + 1);
  const newTree = [
    ...tree,
    newRoot,
    { nodeType: "leaf", leaf: leafNode },
    ...new Array(tree.length - 1)
  ];
  return [newTree, insertedNodeIndex];
}
function addLeafNode(tree, leafNode) {
  const blankLeaf = findBlankLeafNodeIndex(tree);
  if (blankLeaf === void 0) {
    return extendTree(tree, leafNode);
  }
  const insertedLeafIndex = nodeToLeafIndex(blankLeaf);
  const dp = directPath(blankLeaf, leafWidth(tree.length));
  const copy = tree.slice();
  for (const nodeIndex of dp) {
    const node = tree[nodeIndex];
    if (node !== void 0) {
      const parentNode = node;
      const updated = {
        nodeType: "parent",
        parent: { ...parentNode.parent, unmergedLeaves: [...parentNode.parent.unmergedLeaves, insertedLeafIndex] }
      };
      copy[nodeIndex] = updated;
    }
  }
  copy[blankLeaf] = { nodeType: "leaf", leaf: leafNode };
  return [copy, blankLeaf];
}
function updateLeafNode(tree, leafNode, leafIndex) {
  const leafNodeIndex = leafToNodeIndex(leafIndex);
  const pathToBlank = directPath(leafNodeIndex, leafWidth(tree.length));
  const copy = tree.slice();
  for (const nodeIndex of pathToBlank) {
    const node = tree[nodeIndex];
    if (node !== void 0) {
      copy[nodeIndex] = void 0;
    }
  }
  copy[leafNodeIndex] = { nodeType: "leaf", leaf: leafNode };
  return copy;
}
function removeLeafNode(tree, removedLeafIndex) {
  const leafNodeIndex = leafToNodeIndex(removedLeafIndex);
  const pathToBlank = directPath(leafNodeIndex, leafWidth(tree.length));
  const copy = tree.slice();
  for (const nodeIndex of pathToBlank) {
    const node = tree[nodeIndex];
    if (node !== void 0) {
      copy[nodeIndex] = void 0;
    }
  }
  copy[leafNodeIndex] = void 0;
  return condenseRatchetTreeAfterRemove(copy);
}
function condenseRatchetTreeAfterRemove(tree) {
  return extendRatchetTree(stripBlankNodes(tree));
}
function resolution(tree, nodeIndex) {
  const node = tree[nodeIndex];
  if (node === void 0) {
    if (isLeaf(nodeIndex)) {
      return [];
    }
    const l = left(nodeIndex);
    const r = right(nodeIndex);
    const leftRes = resolution(tree, l);
    const rightRes = resolution(tree, r);
    return [...leftRes, ...rightRes];
  }
  if (isLeaf(nodeIndex)) {
    return [nodeIndex];
  }
  const unmerged = node.nodeType === "parent" ? node.parent.unmergedLeaves : [];
  return [nodeIndex, ...unmerged.map((u) => leafToNodeIndex(toLeafIndex(u)))];
}
function filteredDirectPath(leafIndex, tree) {
  const leafNodeIndex = leafToNodeIndex(leafIndex);
  const leafWidth2 = nodeToLeafIndex(toNodeIndex(tree.length));
  const cp = copath(leafNodeIndex, leafWidth2);
  return directPath(leafNodeIndex, leafWidth2).filter((_nodeIndex, n) => resolution(tree, cp[n]).length !== 0);
}
function filteredDirectPathAndCopathResolution(leafIndex, tree) {
  const leafNodeIndex = leafToNodeIndex(leafIndex);
  const lWidth = leafWidth(tree.length);
  const cp = copath(leafNodeIndex, lWidth);
  return directPath(leafNodeIndex, lWidth).reduce((acc, cur, n) => {
    const r = resolution(tree, cp[n]);
    if (r.length === 0)
      return acc;
    else
      return [...acc, { nodeIndex: cur, resolution: r }];
  }, []);
}
function removeLeaves(tree, leafIndices) {
  const copy = tree.slice();
  function shouldBeRemoved(leafIndex) {
    return leafIndices.find((x) => leafIndex === x) !== void 0;
  }
  for (const [i, n] of tree.entries()) {
    if (n !== void 0) {
      const nodeIndex = toNodeIndex(i);
      if (isLeaf(nodeIndex) && shouldBeRemoved(nodeToLeafIndex(nodeIndex))) {
        copy[i] = void 0;
      } else if (n.nodeType === "parent") {
        copy[i] = {
          ...n,
          parent: { ...n.parent, unmergedLeaves: n.parent.unmergedLeaves.filter((l) => !shouldBeRemoved(l)) }
        };
      }
    }
  }
  return condenseRatchetTreeAfterRemove(copy);
}
function traverseToRoot(tree, leafIndex, f) {
  const rootIndex = root(leafWidth(tree.length));
  let currentIndex = leafToNodeIndex(leafIndex);
  while (currentIndex != rootIndex) {
    currentIndex = parent(currentIndex, leafWidth(tree.length));
    const currentNode = tree[currentIndex];
    if (currentNode !== void 0) {
      if (currentNode.nodeType === "leaf") {
        throw new InternalError("Expected parent node");
      }
      const result = f(currentIndex, currentNode.parent);
      if (result !== void 0) {
        return [result, currentIndex];
      }
    }
  }
}
function findFirstNonBlankAncestor(tree, nodeIndex) {
  return traverseToRoot(tree, nodeToLeafIndex(nodeIndex), (nodeIndex2, _node) => nodeIndex2)?.[0] ?? root(leafWidth(tree.length));
}
function findLeafIndex(tree, leaf) {
  const foundIndex = tree.findIndex((node, nodeIndex) => {
    if (isLeaf(toNodeIndex(nodeIndex)) && node !== void 0) {
      if (node.nodeType === "parent")
        throw new InternalError("Found parent node in leaf node position");
      return constantTimeEqual(encode(leafNodeEncoder)(node.leaf), encode(leafNodeEncoder)(leaf));
    }
    return false;
  });
  return foundIndex === -1 ? void 0 : nodeToLeafIndex(toNodeIndex(foundIndex));
}
function getSignaturePublicKeyFromLeafIndex(ratchetTree, leafIndex) {
  const leafNode = ratchetTree[leafToNodeIndex(leafIndex)];
  if (leafNode === void 0 || leafNode.nodeType === "parent")
    throw new ValidationError("Unable to find leafnode for leafIndex");
  return leafNode.leaf.signaturePublicKey;
}

// ../typescript/node_modules/ts-mls/dist/src/treeHash.js
var leafNodeHashInputEncoder = contramapBufferEncoders([nodeTypeEncoder, uint32Encoder, optionalEncoder(leafNodeEncoder)], (input) => [input.nodeType, input.leafIndex, input.leafNode]);
var encodeLeafNodeHashInput = encode(leafNodeHashInputEncoder);
var decodeLeafNodeHashInput = mapDecoders([decodeUint32, decodeOptional(decodeLeafNode)], (leafIndex, leafNode) => ({
  nodeType: "leaf",
  leafIndex,
  leafNode
}));
var parentNodeHashInputEncoder = contramapBufferEncoders([nodeTypeEncoder, optionalEncoder(parentNodeEncoder), varLenDataEncoder, varLenDataEncoder], (input) => [input.nodeType, input.parentNode, input.leftHash, input.rightHash]);
var encodeParentNodeHashInput = encode(parentNodeHashInputEncoder);
var decodeParentNodeHashInput = mapDecoders([decodeOptional(decodeParentNode), decodeVarLenData, decodeVarLenData], (parentNode, leftHash, rightHash) => ({
  nodeType: "parent",
  parentNode,
  leftHash,
  rightHash
}));
var treeHashInputEncoder = (input) => {
  switch (input.nodeType) {
    case "leaf":
      return leafNodeHashInputEncoder(input);
    case "parent":
      return parentNodeHashInputEncoder(input);
  }
};
var encodeTreeHashInput = encode(treeHashInputEncoder);
var decodeTreeHashInput = flatMapDecoder(decodeNodeType, (nodeType) => {
  switch (nodeType) {
    case "leaf":
      return decodeLeafNodeHashInput;
    case "parent":
      return decodeParentNodeHashInput;
  }
});
async function treeHashRoot(tree, h2) {
  return treeHash(tree, rootFromNodeWidth(tree.length), h2);
}
async function treeHash(tree, subtreeIndex, h2) {
  if (isLeaf(subtreeIndex)) {
    const leafNode = tree[subtreeIndex];
    if (leafNode?.nodeType === "parent")
      throw new InternalError("Somehow found parent node in leaf position");
    const input = encode(leafNodeHashInputEncoder)({
      nodeType: "leaf",
      leafIndex: nodeToLeafIndex(subtreeIndex),
      leafNode: leafNode?.leaf
    });
    return await h2.digest(input);
  } else {
    const parentNode = tree[subtreeIndex];
    if (parentNode?.nodeType === "leaf")
      throw new InternalError("Somehow found leaf node in parent position");
    const leftHash = await treeHash(tree, left(subtreeIndex), h2);
    const rightHash = await treeHash(tree, right(subtreeIndex), h2);
    const input = {
      nodeType: "parent",
      parentNode: parentNode?.parent,
      leftHash,
      rightHash
    };
    return await h2.digest(encode(parentNodeHashInputEncoder)(input));
  }
}

// ../typescript/node_modules/ts-mls/dist/src/parentHash.js
var parentHashInputEncoder = contramapBufferEncoders([varLenDataEncoder, varLenDataEncoder, varLenDataEncoder], (i) => [i.encryptionKey, i.parentHash, i.originalSiblingTreeHash]);
var encodeParentHashInput = encode(parentHashInputEncoder);
var decodeParentHashInput = mapDecoders([decodeVarLenData, decodeVarLenData, decodeVarLenData], (encryptionKey, parentHash, originalSiblingTreeHash) => ({
  encryptionKey,
  parentHash,
  originalSiblingTreeHash
}));
function validateParentHashCoverage(parentIndices, coverage) {
  for (const index of parentIndices) {
    if ((coverage[index] ?? 0) !== 1) {
      return false;
    }
  }
  return true;
}
async function verifyParentHashes(tree, h2) {
  const parentNodes = tree.reduce((acc, cur, index) => {
    if (cur !== void 0 && cur.nodeType === "parent") {
      return [...acc, index];
    } else
      return acc;
  }, []);
  if (parentNodes.length === 0)
    return true;
  const coverage = await parentHashCoverage(tree, h2);
  return validateParentHashCoverage(parentNodes, coverage);
}
function parentHashCoverage(tree, h2) {
  return tree.reduce(async (acc, node, nodeIndex) => {
    let currentIndex = toNodeIndex(nodeIndex);
    if (!isLeaf(currentIndex) || node === void 0)
      return acc;
    let updated = { ...await acc };
    const rootIndex = root(leafWidth(tree.length));
    while (currentIndex !== rootIndex) {
      const currentNode = tree[currentIndex];
      if (currentNode === void 0) {
        continue;
      }
      const [parentHash, parentHashNodeIndex] = await calculateParentHash(tree, currentIndex, h2);
      if (parentHashNodeIndex === void 0) {
        throw new InternalError("Reached root before completing parent hash coeverage");
      }
      const expectedParentHash = getParentHash(currentNode);
      if (expectedParentHash !== void 0 && constantTimeEqual(parentHash, expectedParentHash)) {
        const newCount = (updated[parentHashNodeIndex] ?? 0) + 1;
        updated = { ...updated, [parentHashNodeIndex]: newCount };
      } else {
        break;
      }
      currentIndex = parentHashNodeIndex;
    }
    return updated;
  }, Promise.resolve({}));
}
function getParentHash(node) {
  if (node.nodeType === "parent")
    return node.parent.parentHash;
  else if (node.leaf.leafNodeSource === "commit")
    return node.leaf.parentHash;
}
async function calculateParentHash(tree, nodeIndex, h2) {
  const rootIndex = root(leafWidth(tree.length));
  if (nodeIndex === rootIndex) {
    return [new Uint8Array(), void 0];
  }
  const parentNodeIndex = findFirstNonBlankAncestor(tree, nodeIndex);
  const parentNode = tree[parentNodeIndex];
  if (parentNodeIndex === rootIndex && parentNode === void 0) {
    return [new Uint8Array(), parentNodeIndex];
  }
  const siblingIndex = nodeIndex < parentNodeIndex ? right(parentNodeIndex) : left(parentNodeIndex);
  if (parentNode === void 0 || parentNode.nodeType === "leaf")
    throw new InternalError("Expected non-blank parent Node");
  const removedUnmerged = removeLeaves(tree, parentNode.parent.unmergedLeaves);
  const originalSiblingTreeHash = await treeHash(removedUnmerged, siblingIndex, h2);
  const input = {
    encryptionKey: parentNode.parent.hpkePublicKey,
    parentHash: parentNode.parent.parentHash,
    originalSiblingTreeHash
  };
  return [await h2.digest(encode(parentHashInputEncoder)(input)), parentNodeIndex];
}

// ../typescript/node_modules/ts-mls/dist/src/hpkeCiphertext.js
var hpkeCiphertextEncoder = contramapBufferEncoders([varLenDataEncoder, varLenDataEncoder], (egs) => [egs.kemOutput, egs.ciphertext]);
var encodeHpkeCiphertext = encode(hpkeCiphertextEncoder);
var decodeHpkeCiphertext = mapDecoders([decodeVarLenData, decodeVarLenData], (kemOutput, ciphertext) => ({ kemOutput, ciphertext }));

// ../typescript/node_modules/ts-mls/dist/src/updatePath.js
var updatePathNodeEncoder = contramapBufferEncoders([varLenDataEncoder, varLenTypeEncoder(hpkeCiphertextEncoder)], (node) => [node.hpkePublicKey, node.encryptedPathSecret]);
var encodeUpdatePathNode = encode(updatePathNodeEncoder);
var decodeUpdatePathNode = mapDecoders([decodeVarLenData, decodeVarLenType(decodeHpkeCiphertext)], (hpkePublicKey, encryptedPathSecret) => ({ hpkePublicKey, encryptedPathSecret }));
var updatePathEncoder = contramapBufferEncoders([leafNodeEncoder, varLenTypeEncoder(updatePathNodeEncoder)], (path) => [path.leafNode, path.nodes]);
var encodeUpdatePath = encode(updatePathEncoder);
var decodeUpdatePath = mapDecoders([decodeLeafNodeCommit, decodeVarLenType(decodeUpdatePathNode)], (leafNode, nodes) => ({ leafNode, nodes }));
async function createUpdatePath(originalTree, senderLeafIndex, groupContext, signaturePrivateKey, cs, excludeNodes = []) {
  const originalLeafNode = originalTree[leafToNodeIndex(senderLeafIndex)];
  if (originalLeafNode === void 0 || originalLeafNode.nodeType === "parent")
    throw new InternalError("Expected non-blank leaf node");
  const pathSecret = cs.rng.randomBytes(cs.kdf.size);
  const leafNodeSecret = await deriveSecret(pathSecret, "node", cs.kdf);
  const leafKeypair = await cs.hpke.deriveKeyPair(leafNodeSecret);
  const fdp = filteredDirectPathAndCopathResolution(senderLeafIndex, originalTree);
  const copy = originalTree.slice();
  blankStructuralDirectPath(copy, senderLeafIndex);
  const [ps, updatedTree] = await applyInitialTreeUpdate(fdp, pathSecret, senderLeafIndex, copy, cs, new Set(excludeNodes));
  const treeWithHashes = await insertParentHashes(fdp, updatedTree, cs);
  const leafParentHash = await calculateParentHash(treeWithHashes, leafToNodeIndex(senderLeafIndex), cs.hash);
  const updatedLeafNodeTbs = {
    leafNodeSource: "commit",
    hpkePublicKey: await cs.hpke.exportPublicKey(leafKeypair.publicKey),
    extensions: originalLeafNode.leaf.extensions,
    capabilities: originalLeafNode.leaf.capabilities,
    credential: originalLeafNode.leaf.credential,
    signaturePublicKey: originalLeafNode.leaf.signaturePublicKey,
    parentHash: leafParentHash[0],
    groupId: groupContext.groupId,
    leafIndex: senderLeafIndex
  };
  const updatedLeafNode = await signLeafNodeCommit(updatedLeafNodeTbs, signaturePrivateKey, cs.signature);
  treeWithHashes[leafToNodeIndex(senderLeafIndex)] = {
    nodeType: "leaf",
    leaf: updatedLeafNode
  };
  const updatedTreeHash = await treeHashRoot(treeWithHashes, cs.hash);
  const updatedGroupContext = {
    ...groupContext,
    treeHash: updatedTreeHash,
    epoch: groupContext.epoch + 1n
  };
  const pathSecrets = ps.slice(0, ps.length - 1).reverse();
  const updatePathNodes = await Promise.all(pathSecrets.map(encryptSecretsForPath(originalTree, treeWithHashes, updatedGroupContext, cs)));
  const updatePath = { leafNode: updatedLeafNode, nodes: updatePathNodes };
  return [treeWithHashes, updatePath, pathSecrets, leafKeypair.privateKey];
}
function encryptSecretsForPath(originalTree, updatedTree, updatedGroupContext, cs) {
  return async (pathSecret) => {
    const key = getHpkePublicKey(updatedTree[pathSecret.nodeIndex]);
    const res = {
      hpkePublicKey: key,
      encryptedPathSecret: await Promise.all(pathSecret.sendTo.map(async (nodeIndex) => {
        const { ct, enc } = await encryptWithLabel(await cs.hpke.importPublicKey(getHpkePublicKey(originalTree[nodeIndex])), "UpdatePathNode", encode(groupContextEncoder)(updatedGroupContext), pathSecret.secret, cs.hpke);
        return { ciphertext: ct, kemOutput: enc };
      }))
    };
    return res;
  };
}
async function insertParentHashes(fdp, tree, cs) {
  for (let x = fdp.length - 1; x >= 0; x--) {
    const { nodeIndex } = fdp[x];
    const parentHash = await calculateParentHash(tree, nodeIndex, cs.hash);
    const currentNode = tree[nodeIndex];
    if (currentNode === void 0 || currentNode.nodeType === "leaf")
      throw new InternalError("Expected non-blank parent node");
    const updatedNode = { nodeType: "parent", parent: { ...currentNode.parent, parentHash: parentHash[0] } };
    tree[nodeIndex] = updatedNode;
  }
  return tree;
}
async function applyInitialTreeUpdate(fdp, pathSecret, senderLeafIndex, tree, cs, excludeNodes = /* @__PURE__ */ new Set()) {
  return await fdp.reduce(async (acc, { nodeIndex, resolution: resolution2 }) => {
    const [pathSecrets, tree2] = await acc;
    const lastPathSecret = pathSecrets[0];
    const nextPathSecret = await deriveSecret(lastPathSecret.secret, "path", cs.kdf);
    const nextNodeSecret = await deriveSecret(nextPathSecret, "node", cs.kdf);
    const { publicKey } = await cs.hpke.deriveKeyPair(nextNodeSecret);
    tree2[nodeIndex] = {
      nodeType: "parent",
      parent: {
        hpkePublicKey: await cs.hpke.exportPublicKey(publicKey),
        parentHash: new Uint8Array(),
        unmergedLeaves: []
      }
    };
    const sendTo = excludeNodes.size === 0 ? resolution2 : resolution2.filter((nodeIndex2) => !excludeNodes.has(nodeIndex2));
    return [[{ nodeIndex, secret: nextPathSecret, sendTo }, ...pathSecrets], tree2];
  }, Promise.resolve([[{ secret: pathSecret, nodeIndex: leafToNodeIndex(senderLeafIndex), sendTo: [] }], tree]));
}
function blankStructuralDirectPath(tree, senderLeafIndex) {
  for (const nodeIndex of directPath(leafToNodeIndex(senderLeafIndex), leafWidth(tree.length))) {
    tree[nodeIndex] = void 0;
  }
}
async function applyUpdatePath(tree, senderLeafIndex, path, h2, isExternal = false) {
  if (!isExternal) {
    const leafToUpdate = tree[leafToNodeIndex(senderLeafIndex)];
    if (leafToUpdate === void 0 || leafToUpdate.nodeType === "parent")
      throw new InternalError("Leaf node not defined or is parent");
    const leafNodePublicKeyNotNew = constantTimeEqual(leafToUpdate.leaf.hpkePublicKey, path.leafNode.hpkePublicKey);
    if (leafNodePublicKeyNotNew)
      throw new ValidationError("Public key in the LeafNode is the same as the committer's current leaf node");
  }
  const pathNodePublicKeysExistInTree = path.nodes.some((node) => tree.some((treeNode) => {
    return treeNode?.nodeType === "parent" ? constantTimeEqual(treeNode.parent.hpkePublicKey, node.hpkePublicKey) : false;
  }));
  if (pathNodePublicKeysExistInTree)
    throw new ValidationError("Public keys in the UpdatePath may not appear in a node of the new ratchet tree");
  const copy = tree.slice();
  copy[leafToNodeIndex(senderLeafIndex)] = { nodeType: "leaf", leaf: path.leafNode };
  const reverseFilteredDirectPath = filteredDirectPath(senderLeafIndex, tree).reverse();
  blankStructuralDirectPath(copy, senderLeafIndex);
  const reverseUpdatePath = path.nodes.slice().reverse();
  if (reverseUpdatePath.length !== reverseFilteredDirectPath.length) {
    throw new ValidationError("Invalid length of UpdatePath");
  }
  for (const [level2, nodeIndex] of reverseFilteredDirectPath.entries()) {
    const parentHash = await calculateParentHash(copy, nodeIndex, h2);
    copy[nodeIndex] = {
      nodeType: "parent",
      parent: { hpkePublicKey: reverseUpdatePath[level2].hpkePublicKey, unmergedLeaves: [], parentHash: parentHash[0] }
    };
  }
  const leafParentHash = await calculateParentHash(copy, leafToNodeIndex(senderLeafIndex), h2);
  if (!constantTimeEqual(leafParentHash[0], path.leafNode.parentHash))
    throw new ValidationError("Parent hash did not match the UpdatePath");
  return copy;
}
function firstCommonAncestor(tree, leafIndex, senderLeafIndex) {
  const fdp = filteredDirectPathAndCopathResolution(senderLeafIndex, tree);
  for (const { nodeIndex } of fdp) {
    if (isAncestor(leafToNodeIndex(leafIndex), nodeIndex, tree.length)) {
      return nodeIndex;
    }
  }
  throw new ValidationError("Could not find common ancestor");
}
function firstMatchAncestor(tree, leafIndex, senderLeafIndex, path) {
  const fdp = filteredDirectPathAndCopathResolution(senderLeafIndex, tree);
  for (const [n, { nodeIndex, resolution: resolution2 }] of fdp.entries()) {
    if (isAncestor(leafToNodeIndex(leafIndex), nodeIndex, tree.length)) {
      return { nodeIndex, resolution: resolution2, updateNode: path.nodes[n] };
    }
  }
  throw new ValidationError("Could not find common ancestor");
}

// ../typescript/node_modules/ts-mls/dist/src/commit.js
var commitEncoder = contramapBufferEncoders([varLenTypeEncoder(proposalOrRefEncoder), optionalEncoder(updatePathEncoder)], (commit) => [commit.proposals, commit.path]);
var encodeCommit = encode(commitEncoder);
var decodeCommit = mapDecoders([decodeVarLenType(decodeProposalOrRef), decodeOptional(decodeUpdatePath)], (proposals, path) => ({ proposals, path }));

// ../typescript/node_modules/ts-mls/dist/src/contentType.js
var contentTypes = {
  application: 1,
  proposal: 2,
  commit: 3
};
var contentTypeEncoder = contramapBufferEncoder(uint8Encoder, (t) => contentTypes[t]);
var encodeContentType = encode(contentTypeEncoder);
var decodeContentType = mapDecoderOption(decodeUint8, enumNumberToKey(contentTypes));

// ../typescript/node_modules/ts-mls/dist/src/wireformat.js
var wireformats = {
  mls_public_message: 1,
  mls_private_message: 2,
  mls_welcome: 3,
  mls_group_info: 4,
  mls_key_package: 5
};
var wireformatEncoder = (s) => contramapBufferEncoder(uint16Encoder, (t) => wireformats[t])(s);
var encodeWireformat = encode(wireformatEncoder);
var decodeWireformat = mapDecoderOption(decodeUint16, enumNumberToKey(wireformats));

// ../typescript/node_modules/ts-mls/dist/src/sender.js
var senderTypes = {
  member: 1,
  external: 2,
  new_member_proposal: 3,
  new_member_commit: 4
};
var senderTypeEncoder = contramapBufferEncoder(uint8Encoder, (t) => senderTypes[t]);
var encodeSenderType = encode(senderTypeEncoder);
var decodeSenderType = mapDecoderOption(decodeUint8, enumNumberToKey(senderTypes));
var senderEncoder = (s) => {
  switch (s.senderType) {
    case "member":
      return contramapBufferEncoders([senderTypeEncoder, uint32Encoder], (s2) => [s2.senderType, s2.leafIndex])(s);
    case "external":
      return contramapBufferEncoders([senderTypeEncoder, uint32Encoder], (s2) => [s2.senderType, s2.senderIndex])(s);
    case "new_member_proposal":
    case "new_member_commit":
      return senderTypeEncoder(s.senderType);
  }
};
var encodeSender = encode(senderEncoder);
var decodeSender = flatMapDecoder(decodeSenderType, (senderType) => {
  switch (senderType) {
    case "member":
      return mapDecoder(decodeUint32, (leafIndex) => ({
        senderType,
        leafIndex
      }));
    case "external":
      return mapDecoder(decodeUint32, (senderIndex) => ({
        senderType,
        senderIndex
      }));
    case "new_member_proposal":
      return mapDecoder(() => [void 0, 0], () => ({
        senderType
      }));
    case "new_member_commit":
      return mapDecoder(() => [void 0, 0], () => ({
        senderType
      }));
  }
});
function getSenderLeafNodeIndex(sender) {
  return sender.senderType === "member" ? sender.leafIndex : void 0;
}
var reuseGuardEncoder = (g) => [
  4,
  (offset, buffer) => {
    const view = new Uint8Array(buffer, offset, 4);
    view.set(g, 0);
  }
];
var encodeReuseGuard = encode(reuseGuardEncoder);
var decodeReuseGuard = (b, offset) => {
  return [b.subarray(offset, offset + 4), 4];
};
var senderDataEncoder = contramapBufferEncoders([uint32Encoder, uint32Encoder, reuseGuardEncoder], (s) => [s.leafIndex, s.generation, s.reuseGuard]);
var encodeSenderData = encode(senderDataEncoder);
var decodeSenderData = mapDecoders([decodeUint32, decodeUint32, decodeReuseGuard], (leafIndex, generation, reuseGuard) => ({
  leafIndex,
  generation,
  reuseGuard
}));
var senderDataAADEncoder = contramapBufferEncoders([varLenDataEncoder, uint64Encoder, contentTypeEncoder], (aad) => [aad.groupId, aad.epoch, aad.contentType]);
var encodeSenderDataAAD = encode(senderDataAADEncoder);
var decodeSenderDataAAD = mapDecoders([decodeVarLenData, decodeUint64, decodeContentType], (groupId, epoch, contentType) => ({
  groupId,
  epoch,
  contentType
}));
function sampleCiphertext(cs, ciphertext) {
  return ciphertext.length < cs.kdf.size ? ciphertext : ciphertext.subarray(0, cs.kdf.size);
}
async function expandSenderDataKey(cs, senderDataSecret, ciphertext) {
  const ciphertextSample = sampleCiphertext(cs, ciphertext);
  const keyLength = cs.hpke.keyLength;
  return await expandWithLabel(senderDataSecret, "key", ciphertextSample, keyLength, cs.kdf);
}
async function expandSenderDataNonce(cs, senderDataSecret, ciphertext) {
  const ciphertextSample = sampleCiphertext(cs, ciphertext);
  const keyLength = cs.hpke.nonceLength;
  return await expandWithLabel(senderDataSecret, "nonce", ciphertextSample, keyLength, cs.kdf);
}

// ../typescript/node_modules/ts-mls/dist/src/framedContent.js
var framedContentApplicationDataEncoder = contramapBufferEncoders([contentTypeEncoder, varLenDataEncoder], (f) => [f.contentType, f.applicationData]);
var encodeFramedContentApplicationData = encode(framedContentApplicationDataEncoder);
var framedContentProposalDataEncoder = contramapBufferEncoders([contentTypeEncoder, proposalEncoder], (f) => [f.contentType, f.proposal]);
var encodeFramedContentProposalData = encode(framedContentProposalDataEncoder);
var framedContentCommitDataEncoder = contramapBufferEncoders([contentTypeEncoder, commitEncoder], (f) => [f.contentType, f.commit]);
var encodeFramedContentCommitData = encode(framedContentCommitDataEncoder);
var framedContentInfoEncoder = (fc) => {
  switch (fc.contentType) {
    case "application":
      return framedContentApplicationDataEncoder(fc);
    case "proposal":
      return framedContentProposalDataEncoder(fc);
    case "commit":
      return framedContentCommitDataEncoder(fc);
  }
};
var encodeFramedContentInfo = encode(framedContentInfoEncoder);
var decodeFramedContentApplicationData = mapDecoder(decodeVarLenData, (applicationData) => ({ contentType: "application", applicationData }));
var decodeFramedContentProposalData = mapDecoder(decodeProposal, (proposal) => ({ contentType: "proposal", proposal }));
var decodeFramedContentCommitData = mapDecoder(decodeCommit, (commit) => ({
  contentType: "commit",
  commit
}));
var decodeFramedContentInfo = flatMapDecoder(decodeContentType, (contentType) => {
  switch (contentType) {
    case "application":
      return decodeFramedContentApplicationData;
    case "proposal":
      return decodeFramedContentProposalData;
    case "commit":
      return decodeFramedContentCommitData;
  }
});
function toTbs2(content, wireformat, context) {
  return { protocolVersion: context.version, wireformat, content, senderType: content.sender.senderType, context };
}
var framedContentEncoder = contramapBufferEncoders([varLenDataEncoder, uint64Encoder, senderEncoder, varLenDataEncoder, framedContentInfoEncoder], (fc) => [fc.groupId, fc.epoch, fc.sender, fc.authenticatedData, fc]);
var encodeFramedContent = encode(framedContentEncoder);
var decodeFramedContent = mapDecoders([decodeVarLenData, decodeUint64, decodeSender, decodeVarLenData, decodeFramedContentInfo], (groupId, epoch, sender, authenticatedData, info) => ({
  groupId,
  epoch,
  sender,
  authenticatedData,
  ...info
}));
var senderInfoEncoder = (info) => {
  switch (info.senderType) {
    case "member":
    case "new_member_commit":
      return groupContextEncoder(info.context);
    case "external":
    case "new_member_proposal":
      return encVoid;
  }
};
var encodeSenderInfo = encode(senderInfoEncoder);
var framedContentTBSEncoder = contramapBufferEncoders([protocolVersionEncoder, wireformatEncoder, framedContentEncoder, senderInfoEncoder], (f) => [f.protocolVersion, f.wireformat, f.content, f]);
var encodeFramedContentTBS = encode(framedContentTBSEncoder);
var encodeFramedContentAuthDataContent = (authData) => {
  switch (authData.contentType) {
    case "commit":
      return encodeFramedContentAuthDataCommit(authData);
    case "application":
    case "proposal":
      return encVoid;
  }
};
var encodeFramedContentAuthDataCommit = contramapBufferEncoder(varLenDataEncoder, (data) => data.confirmationTag);
var framedContentAuthDataEncoder = contramapBufferEncoders([varLenDataEncoder, encodeFramedContentAuthDataContent], (d) => [d.signature, d]);
var encodeFramedContentAuthData = encode(framedContentAuthDataEncoder);
var decodeFramedContentAuthDataCommit = mapDecoder(decodeVarLenData, (confirmationTag) => ({
  contentType: "commit",
  confirmationTag
}));
function decodeFramedContentAuthData(contentType) {
  switch (contentType) {
    case "commit":
      return mapDecoders([decodeVarLenData, decodeFramedContentAuthDataCommit], (signature, commitData) => ({
        signature,
        ...commitData
      }));
    case "application":
    case "proposal":
      return mapDecoder(decodeVarLenData, (signature) => ({
        signature,
        contentType
      }));
  }
}
async function verifyFramedContentSignature(signKey, wireformat, content, auth, context, s) {
  return verifyWithLabel(signKey, "FramedContentTBS", encode(framedContentTBSEncoder)(toTbs2(content, wireformat, context)), auth.signature, s);
}
function signFramedContentTBS(signKey, tbs, s) {
  return signWithLabel(signKey, "FramedContentTBS", encode(framedContentTBSEncoder)(tbs), s);
}
async function signFramedContentApplicationOrProposal(signKey, tbs, cs) {
  const signature = await signFramedContentTBS(signKey, tbs, cs.signature);
  return {
    contentType: tbs.content.contentType,
    signature
  };
}
function createConfirmationTag(confirmationKey, confirmedTranscriptHash, h2) {
  return h2.mac(confirmationKey, confirmedTranscriptHash);
}
function verifyConfirmationTag(confirmationKey, tag, confirmedTranscriptHash, h2) {
  return h2.verifyMac(confirmationKey, tag, confirmedTranscriptHash);
}
async function createContentCommitSignature(groupContext, wireformat, c, sender, authenticatedData, signKey, s) {
  const tbs = {
    protocolVersion: groupContext.version,
    wireformat,
    content: {
      contentType: "commit",
      commit: c,
      groupId: groupContext.groupId,
      epoch: groupContext.epoch,
      sender,
      authenticatedData
    },
    senderType: "member",
    context: groupContext
  };
  const signature = await signFramedContentTBS(signKey, tbs, s);
  return { framedContent: tbs.content, signature };
}

// ../typescript/node_modules/ts-mls/dist/src/authenticatedContent.js
var authenticatedContentEncoder = contramapBufferEncoders([wireformatEncoder, framedContentEncoder, framedContentAuthDataEncoder], (a) => [a.wireformat, a.content, a.auth]);
var encodeAuthenticatedContent = encode(authenticatedContentEncoder);
var decodeAuthenticatedContent = mapDecoders([
  decodeWireformat,
  flatMapDecoder(decodeFramedContent, (content) => {
    return mapDecoder(decodeFramedContentAuthData(content.contentType), (auth) => ({ content, auth }));
  })
], (wireformat, contentAuth) => ({
  wireformat,
  ...contentAuth
}));
var authenticatedContentTBMEncoder = contramapBufferEncoders([framedContentTBSEncoder, framedContentAuthDataEncoder], (t) => [t.contentTbs, t.auth]);
var encodeAuthenticatedContentTBM = encode(authenticatedContentTBMEncoder);
function createMembershipTag(membershipKey, tbm, h2) {
  return h2.mac(membershipKey, encode(authenticatedContentTBMEncoder)(tbm));
}
function verifyMembershipTag(membershipKey, tbm, tag, h2) {
  return h2.verifyMac(membershipKey, tag, encode(authenticatedContentTBMEncoder)(tbm));
}
function makeProposalRef(proposal, h2) {
  return refhash("MLS 1.0 Proposal Reference", encode(authenticatedContentEncoder)(proposal), h2);
}

// ../typescript/node_modules/ts-mls/dist/src/publicMessage.js
var publicMessageInfoEncoder = (info) => {
  switch (info.senderType) {
    case "member":
      return varLenDataEncoder(info.membershipTag);
    case "external":
    case "new_member_proposal":
    case "new_member_commit":
      return encVoid;
  }
};
var encodePublicMessageInfo = encode(publicMessageInfoEncoder);
function decodePublicMessageInfo(senderType) {
  switch (senderType) {
    case "member":
      return mapDecoder(decodeVarLenData, (membershipTag) => ({
        senderType,
        membershipTag
      }));
    case "external":
    case "new_member_proposal":
    case "new_member_commit":
      return succeedDecoder({ senderType });
  }
}
var publicMessageEncoder = contramapBufferEncoders([framedContentEncoder, framedContentAuthDataEncoder, publicMessageInfoEncoder], (msg) => [msg.content, msg.auth, msg]);
var encodePublicMessage = encode(publicMessageEncoder);
var decodePublicMessage = flatMapDecoder(decodeFramedContent, (content) => mapDecoders([decodeFramedContentAuthData(content.contentType), decodePublicMessageInfo(content.sender.senderType)], (auth, info) => ({
  ...info,
  content,
  auth
})));
function findSignaturePublicKey(ratchetTree, groupContext, framedContent) {
  switch (framedContent.sender.senderType) {
    case "member":
      return getSignaturePublicKeyFromLeafIndex(ratchetTree, toLeafIndex(framedContent.sender.leafIndex));
    case "external": {
      const sender = senderFromExtension(groupContext.extensions, framedContent.sender.senderIndex);
      if (sender === void 0)
        throw new ValidationError("Received external but no external_sender extension");
      return sender.signaturePublicKey;
    }
    case "new_member_proposal":
      if (framedContent.contentType !== "proposal")
        throw new ValidationError("Received new_member_proposal but contentType is not proposal");
      if (framedContent.proposal.proposalType !== "add")
        throw new ValidationError("Received new_member_proposal but proposalType was not add");
      return framedContent.proposal.add.keyPackage.leafNode.signaturePublicKey;
    case "new_member_commit": {
      if (framedContent.contentType !== "commit")
        throw new ValidationError("Received new_member_commit but contentType is not commit");
      if (framedContent.commit.path === void 0)
        throw new ValidationError("Commit contains no update path");
      return framedContent.commit.path.leafNode.signaturePublicKey;
    }
  }
}
function senderFromExtension(extensions, senderIndex) {
  const externalSenderExtensions = extensions.filter((ex) => ex.extensionType === "external_senders");
  const externalSenderExtension = externalSenderExtensions[senderIndex];
  if (externalSenderExtension !== void 0) {
    const externalSender = decodeExternalSender(externalSenderExtension.extensionData, 0);
    if (externalSender === void 0)
      throw new CodecError("Could not decode ExternalSender");
    return externalSender[0];
  }
}

// ../typescript/node_modules/ts-mls/dist/src/messageProtectionPublic.js
async function protectPublicMessage(membershipKey, groupContext, content, cs) {
  if (content.content.contentType === "application")
    throw new UsageError("Can't make an application message public");
  if (content.content.sender.senderType == "member") {
    const authenticatedContent = {
      contentTbs: toTbs2(content.content, "mls_public_message", groupContext),
      auth: content.auth
    };
    const tag = await createMembershipTag(membershipKey, authenticatedContent, cs.hash);
    return {
      content: content.content,
      auth: content.auth,
      senderType: "member",
      membershipTag: tag
    };
  }
  return {
    content: content.content,
    auth: content.auth,
    senderType: content.content.sender.senderType
  };
}
async function unprotectPublicMessage(membershipKey, groupContext, ratchetTree, msg, cs, overrideSignatureKey) {
  if (msg.content.contentType === "application")
    throw new UsageError("Can't make an application message public");
  if (msg.senderType === "member") {
    const authenticatedContent = {
      contentTbs: toTbs2(msg.content, "mls_public_message", groupContext),
      auth: msg.auth
    };
    if (!await verifyMembershipTag(membershipKey, authenticatedContent, msg.membershipTag, cs.hash))
      throw new CryptoVerificationError("Could not verify membership");
  }
  const signaturePublicKey = overrideSignatureKey !== void 0 ? overrideSignatureKey : findSignaturePublicKey(ratchetTree, groupContext, msg.content);
  const signatureValid = await verifyFramedContentSignature(signaturePublicKey, "mls_public_message", msg.content, msg.auth, groupContext, cs.signature);
  if (!signatureValid)
    throw new CryptoVerificationError("Signature invalid");
  return {
    wireformat: "mls_public_message",
    content: msg.content,
    auth: msg.auth
  };
}

// ../typescript/node_modules/ts-mls/dist/src/requiredCapabilities.js
var requiredCapabilitiesEncoder = contramapBufferEncoders([varLenTypeEncoder(uint16Encoder), varLenTypeEncoder(uint16Encoder), varLenTypeEncoder(credentialTypeEncoder)], (rc) => [rc.extensionTypes, rc.proposalTypes, rc.credentialTypes]);
var encodeRequiredCapabilities = encode(requiredCapabilitiesEncoder);
var decodeRequiredCapabilities = mapDecoders([decodeVarLenType(decodeUint16), decodeVarLenType(decodeUint16), decodeVarLenType(decodeCredentialType)], (extensionTypes, proposalTypes, credentialTypes2) => ({ extensionTypes, proposalTypes, credentialTypes: credentialTypes2 }));

// ../typescript/node_modules/ts-mls/dist/src/authenticationService.js
var defaultAuthenticationService = {
  async validateCredential(_credential, _signaturePublicKey) {
    return true;
  }
};

// ../typescript/node_modules/ts-mls/dist/src/paddingConfig.js
var defaultPaddingConfig = { kind: "padUntilLength", padUntilLength: 256 };
function byteLengthToPad(encodedLength, config) {
  if (config.kind === "alwaysPad")
    return config.paddingLength;
  else
    return encodedLength >= config.padUntilLength ? 0 : config.padUntilLength - encodedLength;
}

// ../typescript/node_modules/ts-mls/dist/src/keyPackageEqualityConfig.js
var defaultKeyPackageEqualityConfig = {
  compareKeyPackages(a, b) {
    return constantTimeEqual(a.leafNode.signaturePublicKey, b.leafNode.signaturePublicKey);
  },
  compareKeyPackageToLeafNode(a, b) {
    return constantTimeEqual(a.leafNode.signaturePublicKey, b.signaturePublicKey);
  }
};

// ../typescript/node_modules/ts-mls/dist/src/lifetimeConfig.js
var defaultLifetimeConfig = {
  maximumTotalLifetime: 2628000n,
  // 1 month
  validateLifetimeOnReceive: false
};

// ../typescript/node_modules/ts-mls/dist/src/keyRetentionConfig.js
var defaultKeyRetentionConfig = {
  retainKeysForGenerations: 10,
  retainKeysForEpochs: 4,
  maximumForwardRatchetSteps: 200
};

// ../typescript/node_modules/ts-mls/dist/src/groupInfo.js
var groupInfoTBSEncoder = contramapBufferEncoders([groupContextEncoder, varLenTypeEncoder(extensionEncoder), varLenDataEncoder, uint32Encoder], (g) => [g.groupContext, g.extensions, g.confirmationTag, g.signer]);
var encodeGroupInfoTBS = encode(groupInfoTBSEncoder);
var decodeGroupInfoTBS = mapDecoders([decodeGroupContext, decodeVarLenType(decodeExtension), decodeVarLenData, decodeUint32], (groupContext, extensions, confirmationTag, signer) => ({
  groupContext,
  extensions,
  confirmationTag,
  signer
}));
var groupInfoEncoder = contramapBufferEncoders([groupInfoTBSEncoder, varLenDataEncoder], (g) => [g, g.signature]);
var encodeGroupInfo = encode(groupInfoEncoder);
var decodeGroupInfo = mapDecoders([decodeGroupInfoTBS, decodeVarLenData], (tbs, signature) => ({
  ...tbs,
  signature
}));
function ratchetTreeFromExtension(info) {
  const treeExtension = info.extensions.find((ex) => ex.extensionType === "ratchet_tree");
  if (treeExtension !== void 0) {
    const tree = decodeRatchetTree(treeExtension.extensionData, 0);
    if (tree === void 0)
      throw new CodecError("Could not decode RatchetTree");
    return tree[0];
  }
}
async function signGroupInfo(tbs, privateKey, s) {
  const signature = await signWithLabel(privateKey, "GroupInfoTBS", encode(groupInfoTBSEncoder)(tbs), s);
  return { ...tbs, signature };
}
function verifyGroupInfoSignature(gi, publicKey, s) {
  return verifyWithLabel(publicKey, "GroupInfoTBS", encode(groupInfoTBSEncoder)(gi), gi.signature, s);
}
async function verifyGroupInfoConfirmationTag(gi, joinerSecret, pskSecret, cs) {
  const epochSecret = await extractEpochSecret(gi.groupContext, joinerSecret, cs.kdf, pskSecret);
  const key = await deriveSecret(epochSecret, "confirm", cs.kdf);
  return cs.hash.verifyMac(key, gi.confirmationTag, gi.groupContext.confirmedTranscriptHash);
}
async function extractWelcomeSecret(joinerSecret, pskSecret, kdf) {
  return deriveSecret(await kdf.extract(joinerSecret, pskSecret), "welcome", kdf);
}

// ../typescript/node_modules/ts-mls/dist/src/keySchedule.js
var keyScheduleEncoder = contramapBufferEncoders([
  varLenDataEncoder,
  varLenDataEncoder,
  varLenDataEncoder,
  varLenDataEncoder,
  varLenDataEncoder,
  varLenDataEncoder,
  varLenDataEncoder,
  varLenDataEncoder,
  varLenDataEncoder,
  varLenDataEncoder
], (ks) => [
  new Uint8Array(),
  ks.senderDataSecret,
  new Uint8Array(),
  ks.exporterSecret,
  ks.externalSecret,
  ks.confirmationKey,
  ks.membershipKey,
  ks.resumptionPsk,
  ks.epochAuthenticator,
  ks.initSecret
]);
var encodeKeySchedule = encode(keyScheduleEncoder);
var decodeKeySchedule = mapDecoders([
  decodeVarLenData,
  decodeVarLenData,
  decodeVarLenData,
  decodeVarLenData,
  decodeVarLenData,
  decodeVarLenData,
  decodeVarLenData,
  decodeVarLenData,
  decodeVarLenData,
  decodeVarLenData
], (_epochSecret, senderDataSecret, _encryptionSecret, exporterSecret, externalSecret, confirmationKey, membershipKey, resumptionPsk, epochAuthenticator, initSecret) => ({
  senderDataSecret,
  exporterSecret,
  externalSecret,
  confirmationKey,
  membershipKey,
  resumptionPsk,
  epochAuthenticator,
  initSecret
}));
async function deriveKeySchedule(joinerSecret, pskSecret, groupContext, kdf) {
  const epochSecret = await extractEpochSecret(groupContext, joinerSecret, kdf, pskSecret);
  const encryptionSecret = await deriveSecret(epochSecret, "encryption", kdf);
  const keySchedule = await initializeKeySchedule(epochSecret, kdf);
  return [keySchedule, encryptionSecret];
}
async function initializeKeySchedule(epochSecret, kdf) {
  const newInitSecret = await deriveSecret(epochSecret, "init", kdf);
  const senderDataSecret = await deriveSecret(epochSecret, "sender data", kdf);
  const exporterSecret = await deriveSecret(epochSecret, "exporter", kdf);
  const externalSecret = await deriveSecret(epochSecret, "external", kdf);
  const confirmationKey = await deriveSecret(epochSecret, "confirm", kdf);
  const membershipKey = await deriveSecret(epochSecret, "membership", kdf);
  const resumptionPsk = await deriveSecret(epochSecret, "resumption", kdf);
  const epochAuthenticator = await deriveSecret(epochSecret, "authentication", kdf);
  const newKeySchedule = {
    initSecret: newInitSecret,
    senderDataSecret,
    exporterSecret,
    externalSecret,
    confirmationKey,
    membershipKey,
    resumptionPsk,
    epochAuthenticator
  };
  return newKeySchedule;
}
async function initializeEpoch(initSecret, commitSecret, groupContext, pskSecret, kdf) {
  const joinerSecret = await extractJoinerSecret(groupContext, initSecret, commitSecret, kdf);
  const welcomeSecret = await extractWelcomeSecret(joinerSecret, pskSecret, kdf);
  const [newKeySchedule, encryptionSecret] = await deriveKeySchedule(joinerSecret, pskSecret, groupContext, kdf);
  return { welcomeSecret, joinerSecret, encryptionSecret, keySchedule: newKeySchedule };
}

// ../typescript/node_modules/ts-mls/dist/src/secretTree.js
var generationSecretEncoder = contramapBufferEncoders([varLenDataEncoder, uint32Encoder, numberRecordEncoder(uint32Encoder, varLenDataEncoder)], (gs) => [gs.secret, gs.generation, gs.unusedGenerations]);
var decodeGenerationSecret = mapDecoders([decodeVarLenData, decodeUint32, decodeNumberRecord(decodeUint32, decodeVarLenData)], (secret, generation, unusedGenerations) => ({
  secret,
  generation,
  unusedGenerations
}));
var secretTreeNodeEncoder = contramapBufferEncoders([generationSecretEncoder, generationSecretEncoder], (node) => [node.handshake, node.application]);
var decodeSecretTreeNode = mapDecoders([decodeGenerationSecret, decodeGenerationSecret], (handshake, application) => ({
  handshake,
  application
}));
var secretTreeEncoder = varLenTypeEncoder(secretTreeNodeEncoder);
var decodeSecretTree = decodeVarLenType(decodeSecretTreeNode);
function allSecretTreeValues(tree) {
  const arr = new Array(tree.length * 2);
  for (const node of tree) {
    arr.push(node.application.secret);
    arr.push(node.handshake.secret);
    for (const gen of Object.values(node.application.unusedGenerations)) {
      arr.push(gen);
    }
    for (const gen of Object.values(node.handshake.unusedGenerations)) {
      arr.push(gen);
    }
  }
  return arr;
}
function scaffoldSecretTree(leafWidth2, encryptionSecret, kdf) {
  const tree = new Array(nodeWidth(leafWidth2));
  const rootIndex = root(leafWidth2);
  tree[rootIndex] = encryptionSecret;
  return deriveChildren(tree, rootIndex, kdf);
}
async function createSecretTree(leafWidth2, encryptionSecret, kdf) {
  const tree = await scaffoldSecretTree(leafWidth2, encryptionSecret, kdf);
  return await Promise.all(tree.map(async (secret) => {
    const application = await createRatchetRoot(secret, "application", kdf);
    const handshake = await createRatchetRoot(secret, "handshake", kdf);
    return { handshake, application };
  }));
}
async function deriveChildren(tree, nodeIndex, kdf) {
  if (isLeaf(nodeIndex))
    return tree;
  const l = left(nodeIndex);
  const r = right(nodeIndex);
  const parentSecret = tree[nodeIndex];
  if (parentSecret === void 0)
    throw new InternalError("Bad node index for secret tree");
  const leftSecret = await expandWithLabel(parentSecret, "tree", new TextEncoder().encode("left"), kdf.size, kdf);
  const rightSecret = await expandWithLabel(parentSecret, "tree", new TextEncoder().encode("right"), kdf.size, kdf);
  tree[l] = leftSecret;
  tree[r] = rightSecret;
  return deriveChildren(await deriveChildren(tree, l, kdf), r, kdf);
}
async function deriveNonce(secret, generation, cs) {
  return await deriveTreeSecret(secret, "nonce", generation, cs.hpke.nonceLength, cs.kdf);
}
async function deriveKey(secret, generation, cs) {
  return await deriveTreeSecret(secret, "key", generation, cs.hpke.keyLength, cs.kdf);
}
async function ratchetUntil(current, desiredGen, config, kdf) {
  const generationDifference = desiredGen - current.generation;
  if (generationDifference > config.maximumForwardRatchetSteps)
    throw new ValidationError("Desired generation too far in the future");
  const consumed = [];
  let result = { ...current };
  for (let i = 0; i < generationDifference; i++) {
    const nextSecret = await deriveTreeSecret(result.secret, "secret", result.generation, kdf.size, kdf);
    const [updated, old] = updateUnusedGenerations(result, config.retainKeysForGenerations);
    consumed.push(...old);
    result = {
      secret: nextSecret,
      generation: result.generation + 1,
      unusedGenerations: updated
    };
  }
  return [result, consumed];
}
function updateUnusedGenerations(s, retainGenerationsMax) {
  const withNew = { ...s.unusedGenerations, [s.generation]: s.secret };
  const generations = Object.keys(withNew);
  const result = generations.length >= retainGenerationsMax ? removeOldGenerations(withNew, retainGenerationsMax) : [withNew, []];
  return result;
}
function removeOldGenerations(unusedGenerations, max) {
  const generations = Object.keys(unusedGenerations).map(Number).sort((a, b) => a - b);
  const cutoff = generations.length - max;
  const consumed = new Array();
  const record = {};
  for (const [n, gen] of generations.entries()) {
    const value = unusedGenerations[gen];
    if (n < cutoff) {
      consumed.push(value);
    } else {
      record[gen] = value;
    }
  }
  return [record, consumed];
}
async function derivePrivateMessageNonce(secret, generation, reuseGuard, cs) {
  const nonce = await deriveNonce(secret, generation, cs);
  if (nonce.length >= 4 && reuseGuard.length >= 4) {
    for (let i = 0; i < 4; i++) {
      nonce[i] ^= reuseGuard[i];
    }
  } else
    throw new ValidationError("Reuse guard or nonce incorrect length");
  return nonce;
}
async function ratchetToGeneration(tree, senderData, contentType, config, cs) {
  const index = leafToNodeIndex(toLeafIndex(senderData.leafIndex));
  const node = tree[index];
  if (node === void 0)
    throw new InternalError("Bad node index for secret tree");
  const ratchet = ratchetForContentType(node, contentType);
  if (ratchet.generation > senderData.generation) {
    const desired = ratchet.unusedGenerations[senderData.generation];
    if (desired !== void 0) {
      const { [senderData.generation]: _, ...removedDesiredGen } = ratchet.unusedGenerations;
      const ratchetState = { ...ratchet, unusedGenerations: removedDesiredGen };
      return await createRatchetResultWithSecret(node, index, desired, senderData.generation, senderData.reuseGuard, tree, contentType, [], cs, ratchetState);
    }
    throw new ValidationError("Desired gen in the past");
  }
  const [currentSecret, consumed] = await ratchetUntil(ratchetForContentType(node, contentType), senderData.generation, config, cs.kdf);
  return createRatchetResult(node, index, currentSecret, senderData.reuseGuard, tree, contentType, consumed, cs);
}
async function consumeRatchet(tree, index, contentType, cs) {
  const node = tree[index];
  if (node === void 0)
    throw new InternalError("Bad node index for secret tree");
  const currentSecret = ratchetForContentType(node, contentType);
  const reuseGuard = cs.rng.randomBytes(4);
  return createRatchetResult(node, index, currentSecret, reuseGuard, tree, contentType, [], cs);
}
async function createRatchetResult(node, index, currentSecret, reuseGuard, tree, contentType, consumed, cs) {
  const nextSecret = await deriveTreeSecret(currentSecret.secret, "secret", currentSecret.generation, cs.kdf.size, cs.kdf);
  const ratchetState = { ...currentSecret, secret: nextSecret, generation: currentSecret.generation + 1 };
  return await createRatchetResultWithSecret(node, index, currentSecret.secret, currentSecret.generation, reuseGuard, tree, contentType, consumed, cs, ratchetState);
}
async function createRatchetResultWithSecret(node, index, secret, generation, reuseGuard, tree, contentType, consumed, cs, ratchetState) {
  const { nonce, key } = await createKeyAndNonce(secret, generation, reuseGuard, cs);
  const newNode = contentType === "application" ? { ...node, application: ratchetState } : { ...node, handshake: ratchetState };
  const newTree = tree.slice();
  newTree[index] = newNode;
  return {
    generation,
    reuseGuard,
    nonce,
    key,
    newTree,
    consumed: [...consumed, secret, key]
  };
}
async function createKeyAndNonce(secret, generation, reuseGuard, cs) {
  const key = await deriveKey(secret, generation, cs);
  const nonce = await derivePrivateMessageNonce(secret, generation, reuseGuard, cs);
  return { nonce, key };
}
function ratchetForContentType(node, contentType) {
  switch (contentType) {
    case "application":
      return node.application;
    case "proposal":
      return node.handshake;
    case "commit":
      return node.handshake;
  }
}
async function createRatchetRoot(node, label, kdf) {
  const secret = await expandWithLabel(node, label, new Uint8Array(), kdf.size, kdf);
  return { secret, generation: 0, unusedGenerations: {} };
}

// ../typescript/node_modules/ts-mls/dist/src/transcriptHash.js
var confirmedTranscriptHashInputEncoder = contramapBufferEncoders([wireformatEncoder, framedContentEncoder, varLenDataEncoder], (input) => [input.wireformat, input.content, input.signature]);
var encodeConfirmedTranscriptHashInput = encode(confirmedTranscriptHashInputEncoder);
var decodeConfirmedTranscriptHashInput = mapDecodersOption([decodeWireformat, decodeFramedContent, decodeVarLenData], (wireformat, content, signature) => {
  if (content.contentType === "commit")
    return {
      wireformat,
      content,
      signature
    };
  else
    return void 0;
});
function createConfirmedHash(interimTranscriptHash, input, hash) {
  const [len, write] = confirmedTranscriptHashInputEncoder(input);
  const buf = new ArrayBuffer(interimTranscriptHash.byteLength + len);
  const arr = new Uint8Array(buf);
  arr.set(interimTranscriptHash, 0);
  write(interimTranscriptHash.byteLength, buf);
  return hash.digest(arr);
}
function createInterimHash(confirmedHash, confirmationTag, hash) {
  const [len, write] = varLenDataEncoder(confirmationTag);
  const buf = new ArrayBuffer(confirmedHash.byteLength + len);
  const arr = new Uint8Array(buf);
  arr.set(confirmedHash, 0);
  write(confirmedHash.byteLength, buf);
  return hash.digest(arr);
}

// ../typescript/node_modules/ts-mls/dist/src/groupSecrets.js
var groupSecretsEncoder = contramapBufferEncoders([varLenDataEncoder, optionalEncoder(varLenDataEncoder), varLenTypeEncoder(pskIdEncoder)], (gs) => [gs.joinerSecret, gs.pathSecret, gs.psks]);
var encodeGroupSecrets = encode(groupSecretsEncoder);
var decodeGroupSecrets = mapDecoders([decodeVarLenData, decodeOptional(decodeVarLenData), decodeVarLenType(decodePskId)], (joinerSecret, pathSecret, psks) => ({ joinerSecret, pathSecret, psks }));

// ../typescript/node_modules/ts-mls/dist/src/welcome.js
var encryptedGroupSecretsEncoder = contramapBufferEncoders([varLenDataEncoder, hpkeCiphertextEncoder], (egs) => [egs.newMember, egs.encryptedGroupSecrets]);
var encodeEncryptedGroupSecrets = encode(encryptedGroupSecretsEncoder);
var decodeEncryptedGroupSecrets = mapDecoders([decodeVarLenData, decodeHpkeCiphertext], (newMember, encryptedGroupSecrets) => ({ newMember, encryptedGroupSecrets }));
var welcomeEncoder = contramapBufferEncoders([ciphersuiteEncoder, varLenTypeEncoder(encryptedGroupSecretsEncoder), varLenDataEncoder], (welcome) => [welcome.cipherSuite, welcome.secrets, welcome.encryptedGroupInfo]);
var encodeWelcome = encode(welcomeEncoder);
var decodeWelcome = mapDecoders([decodeCiphersuite, decodeVarLenType(decodeEncryptedGroupSecrets), decodeVarLenData], (cipherSuite2, secrets, encryptedGroupInfo) => ({ cipherSuite: cipherSuite2, secrets, encryptedGroupInfo }));
function welcomeNonce(welcomeSecret, cs) {
  return expandWithLabel(welcomeSecret, "nonce", new Uint8Array(), cs.hpke.nonceLength, cs.kdf);
}
function welcomeKey(welcomeSecret, cs) {
  return expandWithLabel(welcomeSecret, "key", new Uint8Array(), cs.hpke.keyLength, cs.kdf);
}
async function encryptGroupInfo(groupInfo, welcomeSecret, cs) {
  const key = await welcomeKey(welcomeSecret, cs);
  const nonce = await welcomeNonce(welcomeSecret, cs);
  const encrypted = await cs.hpke.encryptAead(key, nonce, void 0, encode(groupInfoEncoder)(groupInfo));
  return encrypted;
}
async function decryptGroupInfo(w, joinerSecret, pskSecret, cs) {
  const welcomeSecret = await extractWelcomeSecret(joinerSecret, pskSecret, cs.kdf);
  const key = await welcomeKey(welcomeSecret, cs);
  const nonce = await welcomeNonce(welcomeSecret, cs);
  const decrypted = await cs.hpke.decryptAead(key, nonce, void 0, w.encryptedGroupInfo);
  const decoded = decodeGroupInfo(decrypted, 0);
  return decoded?.[0];
}
function encryptGroupSecrets(initKey, encryptedGroupInfo, groupSecrets, hpke) {
  return encryptWithLabel(initKey, "Welcome", encryptedGroupInfo, encode(groupSecretsEncoder)(groupSecrets), hpke);
}
async function decryptGroupSecrets(initPrivateKey, keyPackageRef, welcome, hpke) {
  const secret = welcome.secrets.find((s) => constantTimeEqual(s.newMember, keyPackageRef));
  if (secret === void 0)
    throw new ValidationError("No matching secret found");
  const decrypted = await decryptWithLabel(initPrivateKey, "Welcome", welcome.encryptedGroupInfo, secret.encryptedGroupSecrets.kemOutput, secret.encryptedGroupSecrets.ciphertext, hpke);
  return decodeGroupSecrets(decrypted, 0)?.[0];
}

// ../typescript/node_modules/ts-mls/dist/src/pathSecrets.js
function pathToPathSecrets(pathSecrets) {
  return pathSecrets.reduce((acc, cur) => ({
    ...acc,
    [cur.nodeIndex]: cur.secret
  }), {});
}
async function getCommitSecret(tree, nodeIndex, pathSecret, kdf) {
  const rootIndex = root(leafWidth(tree.length));
  const path = await pathToRoot(tree, nodeIndex, pathSecret, kdf);
  const rootSecret = path[rootIndex];
  if (rootSecret === void 0)
    throw new InternalError("Could not find secret for root");
  return deriveSecret(rootSecret, "path", kdf);
}
async function pathToRoot(tree, nodeIndex, pathSecret, kdf) {
  const rootIndex = root(leafWidth(tree.length));
  let currentIndex = nodeIndex;
  const pathSecrets = { [nodeIndex]: pathSecret };
  while (currentIndex != rootIndex) {
    const nextIndex = findFirstNonBlankAncestor(tree, currentIndex);
    const nextSecret = await deriveSecret(pathSecrets[currentIndex], "path", kdf);
    pathSecrets[nextIndex] = nextSecret;
    currentIndex = nextIndex;
  }
  return pathSecrets;
}

// ../typescript/node_modules/ts-mls/dist/src/privateKeyPath.js
var privateKeyPathEncoder = contramapBufferEncoders([uint32Encoder, numberRecordEncoder(uint32Encoder, varLenDataEncoder)], (pkp) => [pkp.leafIndex, pkp.privateKeys]);
var decodePrivateKeyPath = mapDecoders([decodeUint32, decodeNumberRecord(decodeUint32, decodeVarLenData)], (leafIndex, privateKeys) => ({
  leafIndex,
  privateKeys
}));
function mergePrivateKeyPaths(a, b) {
  return { ...a, privateKeys: { ...a.privateKeys, ...b.privateKeys } };
}
function updateLeafKey(path, newKey) {
  return { ...path, privateKeys: { ...path.privateKeys, [leafToNodeIndex(toLeafIndex(path.leafIndex))]: newKey } };
}
async function toPrivateKeyPath(pathSecrets, leafIndex, cs) {
  const asArray = await Promise.all(Object.entries(pathSecrets).map(async ([nodeIndex, pathSecret]) => {
    const nodeSecret = await deriveSecret(pathSecret, "node", cs.kdf);
    const { privateKey } = await cs.hpke.deriveKeyPair(nodeSecret);
    return [Number(nodeIndex), await cs.hpke.exportPrivateKey(privateKey)];
  }));
  const privateKeys = Object.fromEntries(asArray);
  return { leafIndex, privateKeys };
}

// ../typescript/node_modules/ts-mls/dist/src/unappliedProposals.js
var proposalWithSenderEncoder = contramapBufferEncoders([proposalEncoder, optionalEncoder(uint32Encoder)], (pws) => [pws.proposal, pws.senderLeafIndex]);
var decodeProposalWithSender = mapDecoders([decodeProposal, decodeOptional(decodeUint32)], (proposal, senderLeafIndex) => ({
  proposal,
  senderLeafIndex
}));
var unappliedProposalsEncoder = base64RecordEncoder(proposalWithSenderEncoder);
var decodeUnappliedProposals = decodeBase64Record(decodeProposalWithSender);
function addUnappliedProposal(ref, proposals, proposal, senderLeafIndex) {
  const r = bytesToBase64(ref);
  return {
    ...proposals,
    [r]: { proposal, senderLeafIndex }
  };
}

// ../typescript/node_modules/ts-mls/dist/src/pskIndex.js
var emptyPskIndex = {
  findPsk(_preSharedKeyId) {
    return void 0;
  }
};
async function accumulatePskSecret(groupedPsk, pskSearch, cs, zeroes) {
  return groupedPsk.reduce(async (acc, cur, index) => {
    const [previousSecret, ids] = await acc;
    const psk = pskSearch.findPsk(cur);
    if (psk === void 0)
      throw new ValidationError("Could not find pskId referenced in proposal");
    const pskSecret = await updatePskSecret(previousSecret, cur, psk, index, groupedPsk.length, cs);
    return [pskSecret, [...ids, cur]];
  }, Promise.resolve([zeroes, []]));
}

// ../typescript/node_modules/ts-mls/dist/src/util/addToMap.js
function addToMap(map, k, v) {
  const copy = new Map(map);
  copy.set(k, v);
  return copy;
}

// ../typescript/node_modules/ts-mls/dist/src/clientConfig.js
var defaultClientConfig = {
  keyRetentionConfig: defaultKeyRetentionConfig,
  lifetimeConfig: defaultLifetimeConfig,
  keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  paddingConfig: defaultPaddingConfig,
  authService: defaultAuthenticationService
};

// ../typescript/node_modules/ts-mls/dist/src/util/array.js
function arraysEqual(a, b) {
  if (a.length !== b.length)
    return false;
  return a.every((val, index) => val === b[index]);
}

// ../typescript/node_modules/ts-mls/dist/src/codec/string.js
var stringEncoder = contramapBufferEncoder(varLenDataEncoder, (s) => new TextEncoder().encode(s));
var encodeString = encode(stringEncoder);
var decodeString = mapDecoder(decodeVarLenData, (u) => new TextDecoder().decode(u));

// ../typescript/node_modules/ts-mls/dist/src/groupActiveState.js
var activeEncoder = contramapBufferEncoder(stringEncoder, () => "active");
var suspendedPendingReinitEncoder = contramapBufferEncoders([stringEncoder, reinitEncoder], (s) => ["suspendedPendingReinit", s.reinit]);
var removedFromGroupEncoder = contramapBufferEncoder(stringEncoder, () => "removedFromGroup");
var groupActiveStateEncoder = (state) => {
  switch (state.kind) {
    case "active":
      return activeEncoder(state);
    case "suspendedPendingReinit":
      return suspendedPendingReinitEncoder(state);
    case "removedFromGroup":
      return removedFromGroupEncoder(state);
  }
};
var decodeGroupActiveState = flatMapDecoder(decodeString, (kind) => {
  switch (kind) {
    case "active":
      return succeedDecoder({ kind: "active" });
    case "suspendedPendingReinit":
      return mapDecoder(decodeReinit, (reinit) => ({ kind: "suspendedPendingReinit", reinit }));
    case "removedFromGroup":
      return succeedDecoder({ kind: "removedFromGroup" });
    default:
      return failDecoder();
  }
});

// ../typescript/node_modules/ts-mls/dist/src/epochReceiverData.js
var epochReceiverDataEncoder = contramapBufferEncoders([varLenDataEncoder, secretTreeEncoder, ratchetTreeEncoder, varLenDataEncoder, groupContextEncoder], (erd) => [erd.resumptionPsk, erd.secretTree, erd.ratchetTree, erd.senderDataSecret, erd.groupContext]);
var decodeEpochReceiverData = mapDecoders([decodeVarLenData, decodeSecretTree, decodeRatchetTree, decodeVarLenData, decodeGroupContext], (resumptionPsk, secretTree, ratchetTree, senderDataSecret, groupContext) => ({
  resumptionPsk,
  secretTree,
  ratchetTree,
  senderDataSecret,
  groupContext
}));

// ../typescript/node_modules/ts-mls/dist/src/clientState.js
var groupStateEncoder = contramapBufferEncoders([
  groupContextEncoder,
  keyScheduleEncoder,
  secretTreeEncoder,
  ratchetTreeEncoder,
  privateKeyPathEncoder,
  varLenDataEncoder,
  unappliedProposalsEncoder,
  varLenDataEncoder,
  bigintMapEncoder(epochReceiverDataEncoder),
  groupActiveStateEncoder
], (state) => [
  state.groupContext,
  state.keySchedule,
  state.secretTree,
  state.ratchetTree,
  state.privatePath,
  state.signaturePrivateKey,
  state.unappliedProposals,
  state.confirmationTag,
  state.historicalReceiverData,
  state.groupActiveState
]);
var encodeGroupState = encode(groupStateEncoder);
var decodeGroupState = mapDecoders([
  decodeGroupContext,
  decodeKeySchedule,
  decodeSecretTree,
  decodeRatchetTree,
  decodePrivateKeyPath,
  decodeVarLenData,
  decodeUnappliedProposals,
  decodeVarLenData,
  decodeBigintMap(decodeEpochReceiverData),
  decodeGroupActiveState
], (groupContext, keySchedule, secretTree, ratchetTree, privatePath, signaturePrivateKey, unappliedProposals, confirmationTag, historicalReceiverData, groupActiveState) => ({
  groupContext,
  keySchedule,
  secretTree,
  ratchetTree,
  privatePath,
  signaturePrivateKey,
  unappliedProposals,
  confirmationTag,
  historicalReceiverData,
  groupActiveState
}));
var groupStateEncoderWithoutTree = contramapBufferEncoders([
  groupContextEncoder,
  keyScheduleEncoder,
  secretTreeEncoder,
  privateKeyPathEncoder,
  varLenDataEncoder,
  unappliedProposalsEncoder,
  varLenDataEncoder,
  bigintMapEncoder(epochReceiverDataEncoder),
  groupActiveStateEncoder
], (state) => [
  state.groupContext,
  state.keySchedule,
  state.secretTree,
  state.privatePath,
  state.signaturePrivateKey,
  state.unappliedProposals,
  state.confirmationTag,
  state.historicalReceiverData,
  state.groupActiveState
]);
var encodeGroupStateWithoutTree = encode(groupStateEncoderWithoutTree);
function checkCanSendApplicationMessages(state) {
  if (Object.keys(state.unappliedProposals).length !== 0)
    throw new UsageError("Cannot send application message with unapplied proposals");
  checkCanSendHandshakeMessages(state);
}
function checkCanSendHandshakeMessages(state) {
  if (state.groupActiveState.kind === "suspendedPendingReinit")
    throw new UsageError("Cannot send messages while Group is suspended pending reinit");
  else if (state.groupActiveState.kind === "removedFromGroup")
    throw new UsageError("Cannot send messages after being removed from group");
}
var emptyProposals = {
  add: [],
  update: [],
  remove: [],
  psk: [],
  reinit: [],
  external_init: [],
  group_context_extensions: []
};
function flattenExtensions(groupContextExtensions) {
  return groupContextExtensions.reduce((acc, { proposal }) => {
    return [...acc, ...proposal.groupContextExtensions.extensions];
  }, []);
}
async function validateProposals(p, committerLeafIndex, groupContext, config, authService2, tree) {
  const containsUpdateByCommitter = p.update.some((o) => o.senderLeafIndex !== void 0 && o.senderLeafIndex === committerLeafIndex);
  if (containsUpdateByCommitter)
    return new ValidationError("Commit cannot contain an update proposal sent by committer");
  const containsRemoveOfCommitter = p.remove.some((o) => o.proposal.remove.removed === committerLeafIndex);
  if (containsRemoveOfCommitter)
    return new ValidationError("Commit cannot contain a remove proposal removing committer");
  const multipleUpdateRemoveForSameLeaf = p.update.some(({ senderLeafIndex: a }, indexA) => p.update.some(({ senderLeafIndex: b }, indexB) => a === b && indexA !== indexB) || p.remove.some((r) => r.proposal.remove.removed === a)) || p.remove.some((a, indexA) => p.remove.some((b, indexB) => b.proposal.remove.removed === a.proposal.remove.removed && indexA !== indexB) || p.update.some(({ senderLeafIndex }) => a.proposal.remove.removed === senderLeafIndex));
  if (multipleUpdateRemoveForSameLeaf)
    return new ValidationError("Commit cannot contain multiple update and/or remove proposals that apply to the same leaf");
  const multipleAddsContainSameKeypackage = p.add.some(({ proposal: a }, indexA) => p.add.some(({ proposal: b }, indexB) => config.compareKeyPackages(a.add.keyPackage, b.add.keyPackage) && indexA !== indexB));
  if (multipleAddsContainSameKeypackage)
    return new ValidationError("Commit cannot contain multiple Add proposals that contain KeyPackages that represent the same client");
  const addsContainExistingKeypackage = p.add.some(({ proposal }) => tree.some((node, nodeIndex) => node !== void 0 && node.nodeType === "leaf" && config.compareKeyPackageToLeafNode(proposal.add.keyPackage, node.leaf) && p.remove.every((r) => r.proposal.remove.removed !== nodeToLeafIndex(toNodeIndex(nodeIndex)))));
  if (addsContainExistingKeypackage)
    return new ValidationError("Commit cannot contain an Add proposal for someone already in the group");
  const everyLeafSupportsGroupExtensions = p.add.every(({ proposal }) => extensionsSupportedByCapabilities(groupContext.extensions, proposal.add.keyPackage.leafNode.capabilities));
  if (!everyLeafSupportsGroupExtensions)
    return new ValidationError("Added leaf node that doesn't support extension in GroupContext");
  const multiplePskWithSamePskId = p.psk.some((a, indexA) => p.psk.some((b, indexB) => constantTimeEqual(encode(pskIdEncoder)(a.proposal.psk.preSharedKeyId), encode(pskIdEncoder)(b.proposal.psk.preSharedKeyId)) && indexA !== indexB));
  if (multiplePskWithSamePskId)
    return new ValidationError("Commit cannot contain PreSharedKey proposals that reference the same PreSharedKeyID");
  const multipleGroupContextExtensions = p.group_context_extensions.length > 1;
  if (multipleGroupContextExtensions)
    return new ValidationError("Commit cannot contain multiple GroupContextExtensions proposals");
  const allExtensions = flattenExtensions(p.group_context_extensions);
  const requiredCapabilities = allExtensions.find((e) => e.extensionType === "required_capabilities");
  if (requiredCapabilities !== void 0) {
    const caps = decodeRequiredCapabilities(requiredCapabilities.extensionData, 0);
    if (caps === void 0)
      return new CodecError("Could not decode required_capabilities");
    const everyLeafSupportsCapabilities = tree.filter((n) => n !== void 0 && n.nodeType === "leaf").every((l) => capabiltiesAreSupported(caps[0], l.leaf.capabilities));
    if (!everyLeafSupportsCapabilities)
      return new ValidationError("Not all members support required capabilities");
    const allAdditionsSupportCapabilities = p.add.every((a) => capabiltiesAreSupported(caps[0], a.proposal.add.keyPackage.leafNode.capabilities));
    if (!allAdditionsSupportCapabilities)
      return new ValidationError("Commit contains add proposals of member without required capabilities");
  }
  return await validateExternalSenders(allExtensions, authService2);
}
async function validateExternalSenders(extensions, authService2) {
  const externalSenders = extensions.filter((e) => e.extensionType === "external_senders");
  for (const externalSender of externalSenders) {
    const decoded = decodeExternalSender(externalSender.extensionData, 0);
    if (decoded === void 0)
      return new CodecError("Could not decode external_senders");
    const validCredential = await authService2.validateCredential(decoded[0].credential, decoded[0].signaturePublicKey);
    if (!validCredential)
      return new ValidationError("Could not validate external credential");
  }
}
function capabiltiesAreSupported(caps, cs) {
  return caps.credentialTypes.every((c) => cs.credentials.includes(c)) && caps.extensionTypes.every((e) => cs.extensions.includes(e)) && caps.proposalTypes.every((p) => cs.proposals.includes(p));
}
async function validateRatchetTree(tree, groupContext, config, authService2, treeHash2, cs) {
  const hpkeKeys = /* @__PURE__ */ new Set();
  const signatureKeys = /* @__PURE__ */ new Set();
  const credentialTypes2 = /* @__PURE__ */ new Set();
  for (const [i, n] of tree.entries()) {
    const nodeIndex = toNodeIndex(i);
    if (n?.nodeType === "leaf") {
      if (!isLeaf(nodeIndex))
        return new ValidationError("Received Ratchet Tree is not structurally sound");
      const hpkeKey = bytesToBase64(n.leaf.hpkePublicKey);
      if (hpkeKeys.has(hpkeKey))
        return new ValidationError("hpke keys not unique");
      else
        hpkeKeys.add(hpkeKey);
      const signatureKey = bytesToBase64(n.leaf.signaturePublicKey);
      if (signatureKeys.has(signatureKey))
        return new ValidationError("signature keys not unique");
      else
        signatureKeys.add(signatureKey);
      credentialTypes2.add(n.leaf.credential.credentialType);
      const err = n.leaf.leafNodeSource === "key_package" ? await validateLeafNodeKeyPackage(n.leaf, groupContext, false, config, authService2, cs.signature) : await validateLeafNodeUpdateOrCommit(n.leaf, nodeToLeafIndex(nodeIndex), groupContext, authService2, cs.signature);
      if (err !== void 0)
        return err;
    } else if (n?.nodeType === "parent") {
      if (isLeaf(nodeIndex))
        return new ValidationError("Received Ratchet Tree is not structurally sound");
      const hpkeKey = bytesToBase64(n.parent.hpkePublicKey);
      if (hpkeKeys.has(hpkeKey))
        return new ValidationError("hpke keys not unique");
      else
        hpkeKeys.add(hpkeKey);
      for (const unmergedLeaf of n.parent.unmergedLeaves) {
        const leafIndex = toLeafIndex(unmergedLeaf);
        const dp = directPath(leafToNodeIndex(leafIndex), leafWidth(tree.length));
        const nodeIndex2 = leafToNodeIndex(leafIndex);
        if (tree[nodeIndex2]?.nodeType !== "leaf" && !dp.includes(toNodeIndex(i)))
          return new ValidationError("Unmerged leaf did not represent a non-blank descendant leaf node");
        for (const parentIdx of dp) {
          const dpNode = tree[parentIdx];
          if (dpNode !== void 0) {
            if (dpNode.nodeType !== "parent")
              return new InternalError("Expected parent node");
            if (!arraysEqual(dpNode.parent.unmergedLeaves, n.parent.unmergedLeaves))
              return new ValidationError("non-blank intermediate node must list leaf node in its unmerged_leaves");
          }
        }
      }
    }
  }
  for (const n of tree) {
    if (n?.nodeType === "leaf") {
      for (const credentialType of credentialTypes2) {
        if (!n.leaf.capabilities.credentials.includes(credentialType))
          return new ValidationError("LeafNode has credential that is not supported by member of the group");
      }
    }
  }
  const parentHashesVerified = await verifyParentHashes(tree, cs.hash);
  if (!parentHashesVerified)
    return new CryptoVerificationError("Unable to verify parent hash");
  if (!constantTimeEqual(treeHash2, await treeHashRoot(tree, cs.hash)))
    return new ValidationError("Unable to verify tree hash");
}
async function validateLeafNodeUpdateOrCommit(leafNode, leafIndex, groupContext, authService2, s) {
  const signatureValid = await verifyLeafNodeSignature(leafNode, groupContext.groupId, leafIndex, s);
  if (!signatureValid)
    return new CryptoVerificationError("Could not verify leaf node signature");
  const commonError = await validateLeafNodeCommon(leafNode, groupContext, authService2);
  if (commonError !== void 0)
    return commonError;
}
function throwIfDefined(err) {
  if (err !== void 0)
    throw err;
}
async function validateLeafNodeCommon(leafNode, groupContext, authService2) {
  const credentialValid = await authService2.validateCredential(leafNode.credential, leafNode.signaturePublicKey);
  if (!credentialValid)
    return new ValidationError("Could not validate credential");
  const requiredCapabilities = groupContext.extensions.find((e) => e.extensionType === "required_capabilities");
  if (requiredCapabilities !== void 0) {
    const caps = decodeRequiredCapabilities(requiredCapabilities.extensionData, 0);
    if (caps === void 0)
      return new CodecError("Could not decode required_capabilities");
    const leafSupportsCapabilities = capabiltiesAreSupported(caps[0], leafNode.capabilities);
    if (!leafSupportsCapabilities)
      return new ValidationError("LeafNode does not support required capabilities");
  }
  const extensionsSupported = extensionsSupportedByCapabilities(leafNode.extensions, leafNode.capabilities);
  if (!extensionsSupported)
    return new ValidationError("LeafNode contains extension not listed in capabilities");
}
async function validateLeafNodeKeyPackage(leafNode, groupContext, sentByClient, config, authService2, s) {
  const signatureValid = await verifyLeafNodeSignatureKeyPackage(leafNode, s);
  if (!signatureValid)
    return new CryptoVerificationError("Could not verify leaf node signature");
  if (sentByClient || config.validateLifetimeOnReceive) {
    if (leafNode.leafNodeSource === "key_package") {
      const currentTime = BigInt(Math.floor(Date.now() / 1e3));
      if (leafNode.lifetime.notBefore > currentTime || leafNode.lifetime.notAfter < currentTime)
        return new ValidationError("Current time not within Lifetime");
    }
  }
  const commonError = await validateLeafNodeCommon(leafNode, groupContext, authService2);
  if (commonError !== void 0)
    return commonError;
}
async function validateLeafNodeCredentialAndKeyUniqueness(tree, leafNode, existingLeafIndex) {
  const hpkeKeys = /* @__PURE__ */ new Set();
  const signatureKeys = /* @__PURE__ */ new Set();
  for (const [nodeIndex, node] of tree.entries()) {
    if (node?.nodeType === "leaf") {
      if (!node.leaf.capabilities.credentials.includes(leafNode.credential.credentialType)) {
        return new ValidationError("LeafNode has credential that is not supported by member of the group");
      }
      const hpkeKey = bytesToBase64(node.leaf.hpkePublicKey);
      if (hpkeKeys.has(hpkeKey))
        return new ValidationError("hpke keys not unique");
      else
        hpkeKeys.add(hpkeKey);
      const signatureKey = bytesToBase64(node.leaf.signaturePublicKey);
      if (signatureKeys.has(signatureKey) && existingLeafIndex !== nodeToLeafIndex(toNodeIndex(nodeIndex)))
        return new ValidationError("signature keys not unique");
      else
        signatureKeys.add(signatureKey);
    } else if (node?.nodeType === "parent") {
      const hpkeKey = bytesToBase64(node.parent.hpkePublicKey);
      if (hpkeKeys.has(hpkeKey))
        return new ValidationError("hpke keys not unique");
      else
        hpkeKeys.add(hpkeKey);
    }
  }
}
async function validateKeyPackage(kp, groupContext, tree, sentByClient, config, authService2, s) {
  if (kp.cipherSuite !== groupContext.cipherSuite)
    return new ValidationError("Invalid CipherSuite");
  if (kp.version !== groupContext.version)
    return new ValidationError("Invalid mls version");
  const leafNodeConsistentWithTree = await validateLeafNodeCredentialAndKeyUniqueness(tree, kp.leafNode);
  if (leafNodeConsistentWithTree !== void 0)
    return leafNodeConsistentWithTree;
  const leafNodeError = await validateLeafNodeKeyPackage(kp.leafNode, groupContext, sentByClient, config, authService2, s);
  if (leafNodeError !== void 0)
    return leafNodeError;
  const signatureValid = await verifyKeyPackage(kp, s);
  if (!signatureValid)
    return new CryptoVerificationError("Invalid keypackage signature");
  if (constantTimeEqual(kp.initKey, kp.leafNode.hpkePublicKey))
    return new ValidationError("Cannot have identicial init and encryption keys");
}
function validateReinit(allProposals, reinit, gc) {
  if (allProposals.length !== 1)
    return new ValidationError("Reinit proposal needs to be commited by itself");
  if (protocolVersions[reinit.version] < protocolVersions[gc.version])
    return new ValidationError("A ReInit proposal cannot use a version less than the version for the current group");
}
function validateExternalInit(grouped) {
  if (grouped.external_init.length > 1)
    return new ValidationError("Cannot contain more than one external_init proposal");
  if (grouped.remove.length > 1)
    return new ValidationError("Cannot contain more than one remove proposal");
  if (grouped.add.length > 0 || grouped.group_context_extensions.length > 0 || grouped.reinit.length > 0 || grouped.update.length > 0)
    return new ValidationError("Invalid proposals");
}
function validateRemove(remove, tree) {
  if (tree[leafToNodeIndex(toLeafIndex(remove.removed))] === void 0)
    return new ValidationError("Tried to remove empty leaf node");
}
async function applyProposals(state, proposals, committerLeafIndex, pskSearch, sentByClient, cs) {
  const allProposals = proposals.reduce((acc, cur) => {
    if (cur.proposalOrRefType === "proposal")
      return [...acc, { proposal: cur.proposal, senderLeafIndex: committerLeafIndex }];
    const p = state.unappliedProposals[bytesToBase64(cur.reference)];
    if (p === void 0)
      throw new ValidationError("Could not find proposal with supplied reference");
    return [...acc, p];
  }, []);
  const grouped = allProposals.reduce((acc, cur) => {
    if (typeof cur.proposal.proposalType === "number")
      return acc;
    const proposal = acc[cur.proposal.proposalType] ?? [];
    return { ...acc, [cur.proposal.proposalType]: [...proposal, cur] };
  }, emptyProposals);
  const zeroes = new Uint8Array(cs.kdf.size);
  const isExternalInit = grouped.external_init.length > 0;
  if (!isExternalInit) {
    if (grouped.reinit.length > 0) {
      const reinit = grouped.reinit.at(0).proposal.reinit;
      throwIfDefined(validateReinit(allProposals, reinit, state.groupContext));
      return {
        tree: state.ratchetTree,
        pskSecret: zeroes,
        pskIds: [],
        needsUpdatePath: false,
        additionalResult: {
          kind: "reinit",
          reinit
        },
        selfRemoved: false,
        allProposals
      };
    }
    throwIfDefined(await validateProposals(grouped, committerLeafIndex, state.groupContext, state.clientConfig.keyPackageEqualityConfig, state.clientConfig.authService, state.ratchetTree));
    const newExtensions = flattenExtensions(grouped.group_context_extensions);
    const [mutatedTree, addedLeafNodes] = await applyTreeMutations(state.ratchetTree, grouped, state.groupContext, sentByClient, state.clientConfig.authService, state.clientConfig.lifetimeConfig, cs.signature);
    const [updatedPskSecret, pskIds] = await accumulatePskSecret(grouped.psk.map((p) => p.proposal.psk.preSharedKeyId), pskSearch, cs, zeroes);
    const selfRemoved = mutatedTree[leafToNodeIndex(toLeafIndex(state.privatePath.leafIndex))] === void 0;
    const needsUpdatePath = allProposals.length === 0 || Object.values(grouped.update).length > 0 || Object.values(grouped.remove).length > 0;
    return {
      tree: mutatedTree,
      pskSecret: updatedPskSecret,
      additionalResult: {
        kind: "memberCommit",
        addedLeafNodes,
        extensions: newExtensions
      },
      pskIds,
      needsUpdatePath,
      selfRemoved,
      allProposals
    };
  } else {
    throwIfDefined(validateExternalInit(grouped));
    const treeAfterRemove = grouped.remove.reduce((acc, { proposal }) => {
      return removeLeafNode(acc, toLeafIndex(proposal.remove.removed));
    }, state.ratchetTree);
    const zeroes2 = new Uint8Array(cs.kdf.size);
    const [updatedPskSecret, pskIds] = await accumulatePskSecret(grouped.psk.map((p) => p.proposal.psk.preSharedKeyId), pskSearch, cs, zeroes2);
    const initProposal = grouped.external_init.at(0);
    const externalKeyPair = await cs.hpke.deriveKeyPair(state.keySchedule.externalSecret);
    const externalInitSecret = await importSecret(await cs.hpke.exportPrivateKey(externalKeyPair.privateKey), initProposal.proposal.externalInit.kemOutput, cs);
    return {
      needsUpdatePath: true,
      tree: treeAfterRemove,
      pskSecret: updatedPskSecret,
      pskIds,
      additionalResult: {
        kind: "externalCommit",
        externalInitSecret,
        newMemberLeafIndex: nodeToLeafIndex(findBlankLeafNodeIndexOrExtend(treeAfterRemove))
      },
      selfRemoved: false,
      allProposals
    };
  }
}
function makePskIndex(state, externalPsks) {
  return {
    findPsk(preSharedKeyId) {
      if (preSharedKeyId.psktype === "external") {
        return externalPsks[bytesToBase64(preSharedKeyId.pskId)];
      }
      if (state !== void 0 && constantTimeEqual(preSharedKeyId.pskGroupId, state.groupContext.groupId)) {
        if (preSharedKeyId.pskEpoch === state.groupContext.epoch)
          return state.keySchedule.resumptionPsk;
        else
          return state.historicalReceiverData.get(preSharedKeyId.pskEpoch)?.resumptionPsk;
      }
    }
  };
}
async function nextEpochContext(groupContext, wireformat, content, signature, updatedTreeHash, confirmationTag, h2) {
  const interimTranscriptHash = await createInterimHash(groupContext.confirmedTranscriptHash, confirmationTag, h2);
  const newConfirmedHash = await createConfirmedHash(interimTranscriptHash, { wireformat, content, signature }, h2);
  return {
    ...groupContext,
    epoch: groupContext.epoch + 1n,
    treeHash: updatedTreeHash,
    confirmedTranscriptHash: newConfirmedHash
  };
}
async function joinGroup(welcome, keyPackage, privateKeys, pskSearch, cs, ratchetTree, resumingFromState, clientConfig2 = defaultClientConfig) {
  const res = await joinGroupWithExtensions(welcome, keyPackage, privateKeys, pskSearch, cs, ratchetTree, resumingFromState, clientConfig2);
  return res[0];
}
async function joinGroupWithExtensions(welcome, keyPackage, privateKeys, pskSearch, cs, ratchetTree, resumingFromState, clientConfig2 = defaultClientConfig) {
  const keyPackageRef = await makeKeyPackageRef(keyPackage, cs.hash);
  const privKey = await cs.hpke.importPrivateKey(privateKeys.initPrivateKey);
  const groupSecrets = await decryptGroupSecrets(privKey, keyPackageRef, welcome, cs.hpke);
  if (groupSecrets === void 0)
    throw new CodecError("Could not decode group secrets");
  const zeroes = new Uint8Array(cs.kdf.size);
  const [pskSecret, pskIds] = await accumulatePskSecret(groupSecrets.psks, pskSearch, cs, zeroes);
  const gi = await decryptGroupInfo(welcome, groupSecrets.joinerSecret, pskSecret, cs);
  if (gi === void 0)
    throw new CodecError("Could not decode group info");
  const resumptionPsk = pskIds.find((id) => id.psktype === "resumption");
  if (resumptionPsk !== void 0) {
    if (resumingFromState === void 0)
      throw new ValidationError("No prior state passed for resumption");
    if (resumptionPsk.pskEpoch !== resumingFromState.groupContext.epoch)
      throw new ValidationError("Epoch mismatch");
    if (!constantTimeEqual(resumptionPsk.pskGroupId, resumingFromState.groupContext.groupId))
      throw new ValidationError("old groupId mismatch");
    if (gi.groupContext.epoch !== 1n)
      throw new ValidationError("Resumption must be started at epoch 1");
    if (resumptionPsk.usage === "reinit") {
      if (resumingFromState.groupActiveState.kind !== "suspendedPendingReinit")
        throw new ValidationError("Found reinit psk but no old suspended clientState");
      if (!constantTimeEqual(resumingFromState.groupActiveState.reinit.groupId, gi.groupContext.groupId))
        throw new ValidationError("new groupId mismatch");
      if (resumingFromState.groupActiveState.reinit.version !== gi.groupContext.version)
        throw new ValidationError("Version mismatch");
      if (resumingFromState.groupActiveState.reinit.cipherSuite !== gi.groupContext.cipherSuite)
        throw new ValidationError("Ciphersuite mismatch");
      if (!extensionsEqual(resumingFromState.groupActiveState.reinit.extensions, gi.groupContext.extensions))
        throw new ValidationError("Extensions mismatch");
    }
  }
  const allExtensionsSupported = extensionsSupportedByCapabilities(gi.groupContext.extensions, keyPackage.leafNode.capabilities);
  if (!allExtensionsSupported)
    throw new UsageError("client does not support every extension in the GroupContext");
  const tree = ratchetTreeFromExtension(gi) ?? ratchetTree;
  if (tree === void 0)
    throw new UsageError("No RatchetTree passed and no ratchet_tree extension");
  const signerNode = tree[leafToNodeIndex(toLeafIndex(gi.signer))];
  if (signerNode === void 0) {
    throw new ValidationError("Could not find signer leafNode");
  }
  if (signerNode.nodeType === "parent")
    throw new ValidationError("Expected non blank leaf node");
  const credentialVerified = await clientConfig2.authService.validateCredential(signerNode.leaf.credential, signerNode.leaf.signaturePublicKey);
  if (!credentialVerified)
    throw new ValidationError("Could not validate credential");
  const groupInfoSignatureVerified = await verifyGroupInfoSignature(gi, signerNode.leaf.signaturePublicKey, cs.signature);
  if (!groupInfoSignatureVerified)
    throw new CryptoVerificationError("Could not verify groupInfo signature");
  if (gi.groupContext.cipherSuite !== keyPackage.cipherSuite)
    throw new ValidationError("cipher suite in the GroupInfo does not match the cipher_suite in the KeyPackage");
  throwIfDefined(await validateRatchetTree(tree, gi.groupContext, clientConfig2.lifetimeConfig, clientConfig2.authService, gi.groupContext.treeHash, cs));
  const newLeaf = findLeafIndex(tree, keyPackage.leafNode);
  if (newLeaf === void 0)
    throw new ValidationError("Could not find own leaf when processing welcome");
  const privateKeyPath = {
    leafIndex: newLeaf,
    privateKeys: { [leafToNodeIndex(newLeaf)]: privateKeys.hpkePrivateKey }
  };
  const ancestorNodeIndex = firstCommonAncestor(tree, newLeaf, toLeafIndex(gi.signer));
  const updatedPkp = groupSecrets.pathSecret === void 0 ? privateKeyPath : mergePrivateKeyPaths(await toPrivateKeyPath(await pathToRoot(tree, ancestorNodeIndex, groupSecrets.pathSecret, cs.kdf), newLeaf, cs), privateKeyPath);
  const [keySchedule, encryptionSecret] = await deriveKeySchedule(groupSecrets.joinerSecret, pskSecret, gi.groupContext, cs.kdf);
  const confirmationTagVerified = await verifyGroupInfoConfirmationTag(gi, groupSecrets.joinerSecret, pskSecret, cs);
  if (!confirmationTagVerified)
    throw new CryptoVerificationError("Could not verify confirmation tag");
  const secretTree = await createSecretTree(leafWidth(tree.length), encryptionSecret, cs.kdf);
  zeroOutUint8Array(encryptionSecret);
  zeroOutUint8Array(groupSecrets.joinerSecret);
  return [
    {
      groupContext: gi.groupContext,
      ratchetTree: tree,
      privatePath: updatedPkp,
      signaturePrivateKey: privateKeys.signaturePrivateKey,
      confirmationTag: gi.confirmationTag,
      unappliedProposals: {},
      keySchedule,
      secretTree,
      historicalReceiverData: /* @__PURE__ */ new Map(),
      groupActiveState: { kind: "active" },
      clientConfig: clientConfig2
    },
    gi.extensions
  ];
}
async function createGroup(groupId, keyPackage, privateKeyPackage, extensions, cs, clientConfig2 = defaultClientConfig) {
  const ratchetTree = [{ nodeType: "leaf", leaf: keyPackage.leafNode }];
  const privatePath = {
    leafIndex: 0,
    privateKeys: { [0]: privateKeyPackage.hpkePrivateKey }
  };
  const confirmedTranscriptHash = new Uint8Array();
  const groupContext = {
    version: "mls10",
    cipherSuite: cs.name,
    epoch: 0n,
    treeHash: await treeHashRoot(ratchetTree, cs.hash),
    groupId,
    extensions,
    confirmedTranscriptHash
  };
  throwIfDefined(await validateExternalSenders(extensions, clientConfig2.authService));
  const epochSecret = cs.rng.randomBytes(cs.kdf.size);
  const keySchedule = await initializeKeySchedule(epochSecret, cs.kdf);
  const confirmationTag = await createConfirmationTag(keySchedule.confirmationKey, confirmedTranscriptHash, cs.hash);
  const encryptionSecret = await deriveSecret(epochSecret, "encryption", cs.kdf);
  const secretTree = await createSecretTree(1, encryptionSecret, cs.kdf);
  zeroOutUint8Array(epochSecret);
  return {
    ratchetTree,
    keySchedule,
    secretTree,
    privatePath,
    signaturePrivateKey: privateKeyPackage.signaturePrivateKey,
    unappliedProposals: {},
    historicalReceiverData: /* @__PURE__ */ new Map(),
    groupContext,
    confirmationTag,
    groupActiveState: { kind: "active" },
    clientConfig: clientConfig2
  };
}
async function importSecret(privateKey, kemOutput, cs) {
  return cs.hpke.importSecret(await cs.hpke.importPrivateKey(privateKey), new TextEncoder().encode("MLS 1.0 external init secret"), kemOutput, cs.kdf.size, new Uint8Array());
}
async function applyTreeMutations(ratchetTree, grouped, gc, sentByClient, authService2, lifetimeConfig, s) {
  const treeAfterUpdate = await grouped.update.reduce(async (acc, { senderLeafIndex, proposal }) => {
    if (senderLeafIndex === void 0)
      throw new InternalError("No sender index found for update proposal");
    throwIfDefined(await validateLeafNodeUpdateOrCommit(proposal.update.leafNode, senderLeafIndex, gc, authService2, s));
    throwIfDefined(await validateLeafNodeCredentialAndKeyUniqueness(ratchetTree, proposal.update.leafNode, senderLeafIndex));
    return updateLeafNode(await acc, proposal.update.leafNode, toLeafIndex(senderLeafIndex));
  }, Promise.resolve(ratchetTree));
  const treeAfterRemove = grouped.remove.reduce((acc, { proposal }) => {
    throwIfDefined(validateRemove(proposal.remove, ratchetTree));
    return removeLeafNode(acc, toLeafIndex(proposal.remove.removed));
  }, treeAfterUpdate);
  const [treeAfterAdd, addedLeafNodes] = await grouped.add.reduce(async (acc, { proposal }) => {
    throwIfDefined(await validateKeyPackage(proposal.add.keyPackage, gc, ratchetTree, sentByClient, lifetimeConfig, authService2, s));
    const [tree, ws] = await acc;
    const [updatedTree, leafNodeIndex] = addLeafNode(tree, proposal.add.keyPackage.leafNode);
    return [
      updatedTree,
      [...ws, [nodeToLeafIndex(leafNodeIndex), proposal.add.keyPackage]]
    ];
  }, Promise.resolve([treeAfterRemove, []]));
  return [treeAfterAdd, addedLeafNodes];
}
async function processProposal(state, content, proposal, h2) {
  const ref = await makeProposalRef(content, h2);
  return {
    ...state,
    unappliedProposals: addUnappliedProposal(ref, state.unappliedProposals, proposal, getSenderLeafNodeIndex(content.content.sender))
  };
}
function addHistoricalReceiverData(state) {
  const withNew = addToMap(state.historicalReceiverData, state.groupContext.epoch, {
    secretTree: state.secretTree,
    ratchetTree: state.ratchetTree,
    senderDataSecret: state.keySchedule.senderDataSecret,
    groupContext: state.groupContext,
    resumptionPsk: state.keySchedule.resumptionPsk
  });
  const epochs = [...withNew.keys()];
  const result = epochs.length >= state.clientConfig.keyRetentionConfig.retainKeysForEpochs ? removeOldHistoricalReceiverData(withNew, state.clientConfig.keyRetentionConfig.retainKeysForEpochs) : [withNew, []];
  return result;
}
function removeOldHistoricalReceiverData(historicalReceiverData, max) {
  const sortedEpochs = [...historicalReceiverData.keys()].sort((a, b) => a < b ? -1 : 1);
  const cutoff = sortedEpochs.length - max;
  const toBeDeleted = new Array();
  const map = /* @__PURE__ */ new Map();
  for (const [n, epoch] of sortedEpochs.entries()) {
    const data = historicalReceiverData.get(epoch);
    if (n < cutoff) {
      toBeDeleted.push(...allSecretTreeValues(data.secretTree));
    } else {
      map.set(epoch, data);
    }
  }
  return [new Map(sortedEpochs.slice(-max).map((epoch) => [epoch, historicalReceiverData.get(epoch)])), []];
}

// ../typescript/node_modules/ts-mls/dist/src/privateMessage.js
var privateMessageEncoder = contramapBufferEncoders([varLenDataEncoder, uint64Encoder, contentTypeEncoder, varLenDataEncoder, varLenDataEncoder, varLenDataEncoder], (msg) => [msg.groupId, msg.epoch, msg.contentType, msg.authenticatedData, msg.encryptedSenderData, msg.ciphertext]);
var encodePrivateMessage = encode(privateMessageEncoder);
var decodePrivateMessage = mapDecoders([decodeVarLenData, decodeUint64, decodeContentType, decodeVarLenData, decodeVarLenData, decodeVarLenData], (groupId, epoch, contentType, authenticatedData, encryptedSenderData, ciphertext) => ({
  groupId,
  epoch,
  contentType,
  authenticatedData,
  encryptedSenderData,
  ciphertext
}));
var privateContentAADEncoder = contramapBufferEncoders([varLenDataEncoder, uint64Encoder, contentTypeEncoder, varLenDataEncoder], (aad) => [aad.groupId, aad.epoch, aad.contentType, aad.authenticatedData]);
var encodePrivateContentAAD = encode(privateContentAADEncoder);
var decodePrivateContentAAD = mapDecoders([decodeVarLenData, decodeUint64, decodeContentType, decodeVarLenData], (groupId, epoch, contentType, authenticatedData) => ({
  groupId,
  epoch,
  contentType,
  authenticatedData
}));
function decodePrivateMessageContent(contentType) {
  switch (contentType) {
    case "application":
      return decoderWithPadding(mapDecoders([decodeVarLenData, decodeVarLenData], (applicationData, signature) => ({
        contentType,
        applicationData,
        auth: { contentType, signature }
      })));
    case "proposal":
      return decoderWithPadding(mapDecoders([decodeProposal, decodeVarLenData], (proposal, signature) => ({
        contentType,
        proposal,
        auth: { contentType, signature }
      })));
    case "commit":
      return decoderWithPadding(mapDecoders([decodeCommit, decodeVarLenData, decodeFramedContentAuthDataCommit], (commit, signature, auth) => ({
        contentType,
        commit,
        auth: { ...auth, signature, contentType }
      })));
  }
}
function privateMessageContentEncoder(config) {
  return (msg) => {
    switch (msg.contentType) {
      case "application":
        return encoderWithPadding(contramapBufferEncoders([varLenDataEncoder, framedContentAuthDataEncoder], (m) => [m.applicationData, m.auth]), config)(msg);
      case "proposal":
        return encoderWithPadding(contramapBufferEncoders([proposalEncoder, framedContentAuthDataEncoder], (m) => [m.proposal, m.auth]), config)(msg);
      case "commit":
        return encoderWithPadding(contramapBufferEncoders([commitEncoder, framedContentAuthDataEncoder], (m) => [m.commit, m.auth]), config)(msg);
    }
  };
}
function encodePrivateMessageContent(config) {
  return encode(privateMessageContentEncoder(config));
}
async function decryptSenderData(msg, senderDataSecret, cs) {
  const key = await expandSenderDataKey(cs, senderDataSecret, msg.ciphertext);
  const nonce = await expandSenderDataNonce(cs, senderDataSecret, msg.ciphertext);
  const aad = {
    groupId: msg.groupId,
    epoch: msg.epoch,
    contentType: msg.contentType
  };
  const decrypted = await cs.hpke.decryptAead(key, nonce, encode(senderDataAADEncoder)(aad), msg.encryptedSenderData);
  return decodeSenderData(decrypted, 0)?.[0];
}
async function encryptSenderData(senderDataSecret, senderData, aad, ciphertext, cs) {
  const key = await expandSenderDataKey(cs, senderDataSecret, ciphertext);
  const nonce = await expandSenderDataNonce(cs, senderDataSecret, ciphertext);
  return await cs.hpke.encryptAead(key, nonce, encode(senderDataAADEncoder)(aad), encode(senderDataEncoder)(senderData));
}
function toAuthenticatedContent(content, msg, senderLeafIndex) {
  return {
    wireformat: "mls_private_message",
    content: {
      groupId: msg.groupId,
      epoch: msg.epoch,
      sender: {
        senderType: "member",
        leafIndex: senderLeafIndex
      },
      authenticatedData: msg.authenticatedData,
      ...content
    },
    auth: content.auth
  };
}
function encoderWithPadding(encoder3, config) {
  return (t) => {
    const [len, write] = encoder3(t);
    const totalLength = len + byteLengthToPad(len, config);
    return [
      totalLength,
      (offset, buffer) => {
        write(offset, buffer);
      }
    ];
  };
}
function decoderWithPadding(decoder2) {
  return (bytes, offset) => {
    const result = decoder2(bytes, offset);
    if (result === void 0)
      return void 0;
    const [decoded, innerOffset] = result;
    const paddingBytes = bytes.subarray(offset + innerOffset, bytes.length);
    const allZeroes = paddingBytes.every((byte) => byte === 0);
    if (!allZeroes)
      return void 0;
    return [decoded, bytes.length];
  };
}

// ../typescript/node_modules/ts-mls/dist/src/messageProtection.js
async function protectApplicationData(signKey, senderDataSecret, applicationData, authenticatedData, groupContext, secretTree, leafIndex, paddingConfig, cs) {
  const tbs = {
    protocolVersion: groupContext.version,
    wireformat: "mls_private_message",
    content: {
      contentType: "application",
      applicationData,
      groupId: groupContext.groupId,
      epoch: groupContext.epoch,
      sender: {
        senderType: "member",
        leafIndex
      },
      authenticatedData
    },
    senderType: "member",
    context: groupContext
  };
  const auth = await signFramedContentApplicationOrProposal(signKey, tbs, cs);
  const content = {
    ...tbs.content,
    auth
  };
  const result = await protect(senderDataSecret, authenticatedData, groupContext, secretTree, content, leafIndex, paddingConfig, cs);
  return { newSecretTree: result.tree, privateMessage: result.privateMessage, consumed: result.consumed };
}
async function protect(senderDataSecret, authenticatedData, groupContext, secretTree, content, leafIndex, config, cs) {
  const node = secretTree[leafToNodeIndex(toLeafIndex(leafIndex))];
  if (node === void 0)
    throw new InternalError("Bad node index for secret tree");
  const { newTree, generation, reuseGuard, nonce, key, consumed } = await consumeRatchet(secretTree, leafToNodeIndex(toLeafIndex(leafIndex)), content.contentType, cs);
  const aad = {
    groupId: groupContext.groupId,
    epoch: groupContext.epoch,
    contentType: content.contentType,
    authenticatedData
  };
  const ciphertext = await cs.hpke.encryptAead(key, nonce, encode(privateContentAADEncoder)(aad), encodePrivateMessageContent(config)(content));
  const senderData = {
    leafIndex,
    generation,
    reuseGuard
  };
  const senderAad = {
    groupId: groupContext.groupId,
    epoch: groupContext.epoch,
    contentType: content.contentType
  };
  const encryptedSenderData = await encryptSenderData(senderDataSecret, senderData, senderAad, ciphertext, cs);
  return {
    privateMessage: {
      groupId: groupContext.groupId,
      epoch: groupContext.epoch,
      encryptedSenderData,
      contentType: content.contentType,
      authenticatedData,
      ciphertext
    },
    tree: newTree,
    consumed
  };
}
async function unprotectPrivateMessage(senderDataSecret, msg, secretTree, ratchetTree, groupContext, config, cs, overrideSignatureKey) {
  const senderData = await decryptSenderData(msg, senderDataSecret, cs);
  if (senderData === void 0)
    throw new CodecError("Could not decode senderdata");
  validateSenderData(senderData, ratchetTree);
  const { key, nonce, newTree, consumed } = await ratchetToGeneration(secretTree, senderData, msg.contentType, config, cs);
  const aad = {
    groupId: msg.groupId,
    epoch: msg.epoch,
    contentType: msg.contentType,
    authenticatedData: msg.authenticatedData
  };
  const decrypted = await cs.hpke.decryptAead(key, nonce, encode(privateContentAADEncoder)(aad), msg.ciphertext);
  const pmc = decodePrivateMessageContent(msg.contentType)(decrypted, 0)?.[0];
  if (pmc === void 0)
    throw new CodecError("Could not decode PrivateMessageContent");
  const content = toAuthenticatedContent(pmc, msg, senderData.leafIndex);
  const signaturePublicKey = overrideSignatureKey !== void 0 ? overrideSignatureKey : getSignaturePublicKeyFromLeafIndex(ratchetTree, toLeafIndex(senderData.leafIndex));
  const signatureValid = await verifyFramedContentSignature(signaturePublicKey, "mls_private_message", content.content, content.auth, groupContext, cs.signature);
  if (!signatureValid)
    throw new CryptoVerificationError("Signature invalid");
  return { tree: newTree, content, consumed };
}
function validateSenderData(senderData, tree) {
  if (tree[leafToNodeIndex(toLeafIndex(senderData.leafIndex))]?.nodeType !== "leaf")
    return new ValidationError("SenderData did not point to a non-blank leaf node");
}

// ../typescript/node_modules/ts-mls/dist/src/createMessage.js
async function createApplicationMessage(state, message, cs, authenticatedData = new Uint8Array()) {
  checkCanSendApplicationMessages(state);
  const result = await protectApplicationData(state.signaturePrivateKey, state.keySchedule.senderDataSecret, message, authenticatedData, state.groupContext, state.secretTree, state.privatePath.leafIndex, state.clientConfig.paddingConfig, cs);
  return {
    newState: { ...state, secretTree: result.newSecretTree },
    privateMessage: result.privateMessage,
    consumed: result.consumed
  };
}

// ../typescript/node_modules/ts-mls/dist/src/createCommit.js
async function createCommit(context, options) {
  const { state, pskIndex = makePskIndex(state, {}), cipherSuite: cipherSuite2 } = context;
  const { wireAsPublicMessage = false, extraProposals = [], ratchetTreeExtension = false, authenticatedData = new Uint8Array(), groupInfoExtensions = [] } = options ?? {};
  checkCanSendHandshakeMessages(state);
  const wireformat = wireAsPublicMessage ? "mls_public_message" : "mls_private_message";
  const allProposals = bundleAllProposals(state, extraProposals);
  const res = await applyProposals(state, allProposals, toLeafIndex(state.privatePath.leafIndex), pskIndex, true, cipherSuite2);
  if (res.additionalResult.kind === "externalCommit")
    throw new UsageError("Cannot create externalCommit as a member");
  const suspendedPendingReinit = res.additionalResult.kind === "reinit" ? res.additionalResult.reinit : void 0;
  const excludeNodes = res.additionalResult.kind === "memberCommit" ? res.additionalResult.addedLeafNodes.map(([leafIndex]) => leafToNodeIndex(leafIndex)) : [];
  const [tree, updatePath, pathSecrets, newPrivateKey] = res.needsUpdatePath ? await createUpdatePath(res.tree, toLeafIndex(state.privatePath.leafIndex), state.groupContext, state.signaturePrivateKey, cipherSuite2, excludeNodes) : [res.tree, void 0, [], void 0];
  const updatedExtensions = res.additionalResult.kind === "memberCommit" && res.additionalResult.extensions.length > 0 ? res.additionalResult.extensions : state.groupContext.extensions;
  const groupContextWithExtensions = { ...state.groupContext, extensions: updatedExtensions };
  const privateKeys = mergePrivateKeyPaths(newPrivateKey !== void 0 ? updateLeafKey(state.privatePath, await cipherSuite2.hpke.exportPrivateKey(newPrivateKey)) : state.privatePath, await toPrivateKeyPath(pathToPathSecrets(pathSecrets), state.privatePath.leafIndex, cipherSuite2));
  const lastPathSecret = pathSecrets.at(-1);
  const commitSecret = lastPathSecret === void 0 ? new Uint8Array(cipherSuite2.kdf.size) : await getCommitSecret(tree, toNodeIndex(lastPathSecret.nodeIndex), lastPathSecret.secret, cipherSuite2.kdf);
  const { signature, framedContent } = await createContentCommitSignature(state.groupContext, wireformat, { proposals: allProposals, path: updatePath }, { senderType: "member", leafIndex: state.privatePath.leafIndex }, authenticatedData, state.signaturePrivateKey, cipherSuite2.signature);
  const treeHash2 = await treeHashRoot(tree, cipherSuite2.hash);
  const updatedGroupContext = await nextEpochContext(groupContextWithExtensions, wireformat, framedContent, signature, treeHash2, state.confirmationTag, cipherSuite2.hash);
  const epochSecrets = await initializeEpoch(state.keySchedule.initSecret, commitSecret, updatedGroupContext, res.pskSecret, cipherSuite2.kdf);
  const confirmationTag = await createConfirmationTag(epochSecrets.keySchedule.confirmationKey, updatedGroupContext.confirmedTranscriptHash, cipherSuite2.hash);
  const authData = {
    contentType: framedContent.contentType,
    signature,
    confirmationTag
  };
  const [commit, _newTree, consumedSecrets] = await protectCommit(wireAsPublicMessage, state, authenticatedData, framedContent, authData, cipherSuite2);
  const welcome = await createWelcome(ratchetTreeExtension, updatedGroupContext, confirmationTag, state, tree, cipherSuite2, epochSecrets, res, pathSecrets, groupInfoExtensions);
  const groupActiveState = res.selfRemoved ? { kind: "removedFromGroup" } : suspendedPendingReinit !== void 0 ? { kind: "suspendedPendingReinit", reinit: suspendedPendingReinit } : { kind: "active" };
  const [historicalReceiverData, consumedEpochData] = addHistoricalReceiverData(state);
  const newState = {
    groupContext: updatedGroupContext,
    ratchetTree: tree,
    secretTree: await createSecretTree(leafWidth(tree.length), epochSecrets.encryptionSecret, cipherSuite2.kdf),
    keySchedule: epochSecrets.keySchedule,
    privatePath: privateKeys,
    unappliedProposals: {},
    historicalReceiverData,
    confirmationTag,
    signaturePrivateKey: state.signaturePrivateKey,
    groupActiveState,
    clientConfig: state.clientConfig
  };
  zeroOutUint8Array(commitSecret);
  zeroOutUint8Array(epochSecrets.encryptionSecret);
  zeroOutUint8Array(epochSecrets.joinerSecret);
  const consumed = [...consumedSecrets, ...consumedEpochData, state.keySchedule.initSecret];
  return { newState, welcome, commit, consumed };
}
function bundleAllProposals(state, extraProposals) {
  const refs = Object.keys(state.unappliedProposals).map((p) => ({
    proposalOrRefType: "reference",
    reference: base64ToBytes(p)
  }));
  const proposals = extraProposals.map((p) => ({ proposalOrRefType: "proposal", proposal: p }));
  return [...refs, ...proposals];
}
async function createWelcome(ratchetTreeExtension, groupContext, confirmationTag, state, tree, cs, epochSecrets, res, pathSecrets, extensions) {
  const groupInfo = ratchetTreeExtension ? await createGroupInfoWithRatchetTree(groupContext, confirmationTag, state, tree, extensions, cs) : await createGroupInfo(groupContext, confirmationTag, state, extensions, cs);
  const encryptedGroupInfo = await encryptGroupInfo(groupInfo, epochSecrets.welcomeSecret, cs);
  const encryptedGroupSecrets = res.additionalResult.kind === "memberCommit" ? await Promise.all(res.additionalResult.addedLeafNodes.map(([leafNodeIndex, keyPackage]) => {
    return createEncryptedGroupSecrets(tree, leafNodeIndex, state, pathSecrets, cs, keyPackage, encryptedGroupInfo, epochSecrets, res);
  })) : [];
  return encryptedGroupSecrets.length > 0 ? {
    cipherSuite: groupContext.cipherSuite,
    secrets: encryptedGroupSecrets,
    encryptedGroupInfo
  } : void 0;
}
async function createEncryptedGroupSecrets(tree, leafNodeIndex, state, pathSecrets, cs, keyPackage, encryptedGroupInfo, epochSecrets, res) {
  const nodeIndex = firstCommonAncestor(tree, leafNodeIndex, toLeafIndex(state.privatePath.leafIndex));
  const pathSecret = pathSecrets.find((ps) => ps.nodeIndex === nodeIndex);
  const pk = await cs.hpke.importPublicKey(keyPackage.initKey);
  const egs = await encryptGroupSecrets(pk, encryptedGroupInfo, { joinerSecret: epochSecrets.joinerSecret, pathSecret: pathSecret?.secret, psks: res.pskIds }, cs.hpke);
  const ref = await makeKeyPackageRef(keyPackage, cs.hash);
  return { newMember: ref, encryptedGroupSecrets: { kemOutput: egs.enc, ciphertext: egs.ct } };
}
async function createGroupInfo(groupContext, confirmationTag, state, extensions, cs) {
  const groupInfoTbs = {
    groupContext,
    extensions,
    confirmationTag,
    signer: state.privatePath.leafIndex
  };
  return signGroupInfo(groupInfoTbs, state.signaturePrivateKey, cs.signature);
}
async function createGroupInfoWithRatchetTree(groupContext, confirmationTag, state, tree, extensions, cs) {
  const encodedTree = encode(ratchetTreeEncoder)(tree);
  const gi = await createGroupInfo(groupContext, confirmationTag, state, [...extensions, { extensionType: "ratchet_tree", extensionData: encodedTree }], cs);
  return gi;
}
async function protectCommit(publicMessage, state, authenticatedData, content, authData, cs) {
  const wireformat = publicMessage ? "mls_public_message" : "mls_private_message";
  const authenticatedContent = {
    wireformat,
    content,
    auth: authData
  };
  if (publicMessage) {
    const msg = await protectPublicMessage(state.keySchedule.membershipKey, state.groupContext, authenticatedContent, cs);
    return [{ version: "mls10", wireformat: "mls_public_message", publicMessage: msg }, state.secretTree, []];
  } else {
    const res = await protect(state.keySchedule.senderDataSecret, authenticatedData, state.groupContext, state.secretTree, { ...content, auth: authData }, state.privatePath.leafIndex, state.clientConfig.paddingConfig, cs);
    return [
      { version: "mls10", wireformat: "mls_private_message", privateMessage: res.privateMessage },
      res.tree,
      res.consumed
    ];
  }
}
async function applyUpdatePathSecret(tree, privatePath, senderLeafIndex, gc, path, excludeNodes, cs) {
  const { nodeIndex: ancestorNodeIndex, resolution: resolution2, updateNode } = firstMatchAncestor(tree, toLeafIndex(privatePath.leafIndex), senderLeafIndex, path);
  for (const [i, nodeIndex] of filterNewLeaves(resolution2, excludeNodes).entries()) {
    if (privatePath.privateKeys[nodeIndex] !== void 0) {
      const key = await cs.hpke.importPrivateKey(privatePath.privateKeys[nodeIndex]);
      const ct = updateNode.encryptedPathSecret[i];
      const pathSecret = await decryptWithLabel(key, "UpdatePathNode", encode(groupContextEncoder)(gc), ct.kemOutput, ct.ciphertext, cs.hpke);
      return { nodeIndex: ancestorNodeIndex, pathSecret };
    }
  }
  throw new InternalError("No overlap between provided private keys and update path");
}
function filterNewLeaves(resolution2, excludeNodes) {
  const set = new Set(excludeNodes);
  return resolution2.filter((i) => !set.has(i));
}

// ../typescript/node_modules/ts-mls/dist/src/processMessages.js
async function processPrivateMessage(state, pm, pskSearch, cs, callback = acceptAll) {
  if (pm.epoch < state.groupContext.epoch) {
    const receiverData = state.historicalReceiverData.get(pm.epoch);
    if (receiverData !== void 0) {
      const result2 = await unprotectPrivateMessage(receiverData.senderDataSecret, pm, receiverData.secretTree, receiverData.ratchetTree, receiverData.groupContext, state.clientConfig.keyRetentionConfig, cs);
      const newHistoricalReceiverData = addToMap(state.historicalReceiverData, pm.epoch, {
        ...receiverData,
        secretTree: result2.tree
      });
      const newState = { ...state, historicalReceiverData: newHistoricalReceiverData };
      if (result2.content.content.contentType === "application") {
        return {
          kind: "applicationMessage",
          message: result2.content.content.applicationData,
          newState,
          consumed: result2.consumed
        };
      } else {
        throw new ValidationError("Cannot process commit or proposal from former epoch");
      }
    } else {
      throw new ValidationError("Cannot process message, epoch too old");
    }
  }
  const result = await unprotectPrivateMessage(state.keySchedule.senderDataSecret, pm, state.secretTree, state.ratchetTree, state.groupContext, state.clientConfig.keyRetentionConfig, cs);
  const updatedState = { ...state, secretTree: result.tree };
  if (result.content.content.contentType === "application") {
    return {
      kind: "applicationMessage",
      message: result.content.content.applicationData,
      newState: updatedState,
      consumed: result.consumed
    };
  } else if (result.content.content.contentType === "commit") {
    const { newState, actionTaken, consumed } = await processCommit(updatedState, result.content, "mls_private_message", pskSearch, callback, cs);
    return {
      kind: "newState",
      newState,
      actionTaken,
      consumed: [...result.consumed, ...consumed]
    };
  } else {
    const action = callback({
      kind: "proposal",
      proposal: {
        proposal: result.content.content.proposal,
        senderLeafIndex: getSenderLeafNodeIndex(result.content.content.sender)
      }
    });
    if (action === "reject")
      return {
        kind: "newState",
        newState: updatedState,
        actionTaken: action,
        consumed: result.consumed
      };
    else
      return {
        kind: "newState",
        newState: await processProposal(updatedState, result.content, result.content.content.proposal, cs.hash),
        actionTaken: action,
        consumed: result.consumed
      };
  }
}
async function processPublicMessage(state, pm, pskSearch, cs, callback = acceptAll) {
  if (pm.content.epoch < state.groupContext.epoch)
    throw new ValidationError("Cannot process message, epoch too old");
  const content = await unprotectPublicMessage(state.keySchedule.membershipKey, state.groupContext, state.ratchetTree, pm, cs);
  if (content.content.contentType === "proposal") {
    const action = callback({
      kind: "proposal",
      proposal: { proposal: content.content.proposal, senderLeafIndex: getSenderLeafNodeIndex(content.content.sender) }
    });
    if (action === "reject")
      return {
        newState: state,
        actionTaken: action,
        consumed: []
      };
    else
      return {
        newState: await processProposal(state, content, content.content.proposal, cs.hash),
        actionTaken: action,
        consumed: []
      };
  } else {
    return processCommit(state, content, "mls_public_message", pskSearch, callback, cs);
  }
}
async function processCommit(state, content, wireformat, pskSearch, callback, cs) {
  if (content.content.epoch !== state.groupContext.epoch)
    throw new ValidationError("Could not validate epoch");
  const senderLeafIndex = content.content.sender.senderType === "member" ? toLeafIndex(content.content.sender.leafIndex) : void 0;
  const result = await applyProposals(state, content.content.commit.proposals, senderLeafIndex, pskSearch, false, cs);
  const action = callback({ kind: "commit", senderLeafIndex, proposals: result.allProposals });
  if (action === "reject") {
    return { newState: state, actionTaken: action, consumed: [] };
  }
  if (content.content.commit.path !== void 0) {
    const committerLeafIndex = senderLeafIndex ?? (result.additionalResult.kind === "externalCommit" ? result.additionalResult.newMemberLeafIndex : void 0);
    if (committerLeafIndex === void 0)
      throw new ValidationError("Cannot verify commit leaf node because no commiter leaf index found");
    throwIfDefined(await validateLeafNodeUpdateOrCommit(content.content.commit.path.leafNode, committerLeafIndex, state.groupContext, state.clientConfig.authService, cs.signature));
    throwIfDefined(await validateLeafNodeCredentialAndKeyUniqueness(result.tree, content.content.commit.path.leafNode, committerLeafIndex));
  }
  if (result.needsUpdatePath && content.content.commit.path === void 0)
    throw new ValidationError("Update path is required");
  if (result.selfRemoved) {
    return {
      newState: {
        ...state,
        ratchetTree: result.tree,
        unappliedProposals: {},
        groupActiveState: { kind: "removedFromGroup" }
      },
      actionTaken: action,
      consumed: []
    };
  }
  const groupContextWithExtensions = result.additionalResult.kind === "memberCommit" && result.additionalResult.extensions.length > 0 ? { ...state.groupContext, extensions: result.additionalResult.extensions } : state.groupContext;
  const [pkp, commitSecret, tree] = await applyTreeUpdate(content.content.commit.path, content.content.sender, result.tree, cs, state, groupContextWithExtensions, result.additionalResult.kind === "memberCommit" ? result.additionalResult.addedLeafNodes.map((l) => leafToNodeIndex(toLeafIndex(l[0]))) : [findBlankLeafNodeIndex(result.tree) ?? toNodeIndex(result.tree.length + 1)], cs.kdf);
  const newTreeHash = await treeHashRoot(tree, cs.hash);
  if (content.auth.contentType !== "commit")
    throw new ValidationError("Received content as commit, but not auth");
  const updatedGroupContext = await nextEpochContext(groupContextWithExtensions, wireformat, content.content, content.auth.signature, newTreeHash, state.confirmationTag, cs.hash);
  const initSecret = result.additionalResult.kind === "externalCommit" ? result.additionalResult.externalInitSecret : state.keySchedule.initSecret;
  const epochSecrets = await initializeEpoch(initSecret, commitSecret, updatedGroupContext, result.pskSecret, cs.kdf);
  const confirmationTagValid = await verifyConfirmationTag(epochSecrets.keySchedule.confirmationKey, content.auth.confirmationTag, updatedGroupContext.confirmedTranscriptHash, cs.hash);
  if (!confirmationTagValid)
    throw new CryptoVerificationError("Could not verify confirmation tag");
  const secretTree = await createSecretTree(leafWidth(tree.length), epochSecrets.encryptionSecret, cs.kdf);
  const suspendedPendingReinit = result.additionalResult.kind === "reinit" ? result.additionalResult.reinit : void 0;
  const groupActiveState = result.selfRemoved ? { kind: "removedFromGroup" } : suspendedPendingReinit !== void 0 ? { kind: "suspendedPendingReinit", reinit: suspendedPendingReinit } : { kind: "active" };
  const [historicalReceiverData, consumedEpochData] = addHistoricalReceiverData(state);
  zeroOutUint8Array(commitSecret);
  zeroOutUint8Array(epochSecrets.joinerSecret);
  zeroOutUint8Array(epochSecrets.encryptionSecret);
  const consumed = [...consumedEpochData, initSecret];
  return {
    newState: {
      ...state,
      secretTree,
      ratchetTree: tree,
      privatePath: pkp,
      groupContext: updatedGroupContext,
      keySchedule: epochSecrets.keySchedule,
      confirmationTag: content.auth.confirmationTag,
      historicalReceiverData,
      unappliedProposals: {},
      groupActiveState
    },
    actionTaken: action,
    consumed
  };
}
async function applyTreeUpdate(path, sender, tree, cs, state, groupContext, excludeNodes, kdf) {
  if (path === void 0)
    return [state.privatePath, new Uint8Array(kdf.size), tree];
  if (sender.senderType === "member") {
    const updatedTree = await applyUpdatePath(tree, toLeafIndex(sender.leafIndex), path, cs.hash);
    const [pkp, commitSecret] = await updatePrivateKeyPath(updatedTree, state, toLeafIndex(sender.leafIndex), { ...groupContext, treeHash: await treeHashRoot(updatedTree, cs.hash), epoch: groupContext.epoch + 1n }, path, excludeNodes, cs);
    return [pkp, commitSecret, updatedTree];
  } else {
    const [treeWithLeafNode, leafNodeIndex] = addLeafNode(tree, path.leafNode);
    const senderLeafIndex = nodeToLeafIndex(leafNodeIndex);
    const updatedTree = await applyUpdatePath(treeWithLeafNode, senderLeafIndex, path, cs.hash, true);
    const [pkp, commitSecret] = await updatePrivateKeyPath(updatedTree, state, senderLeafIndex, { ...groupContext, treeHash: await treeHashRoot(updatedTree, cs.hash), epoch: groupContext.epoch + 1n }, path, excludeNodes, cs);
    return [pkp, commitSecret, updatedTree];
  }
}
async function updatePrivateKeyPath(tree, state, leafNodeIndex, groupContext, path, excludeNodes, cs) {
  const secret = await applyUpdatePathSecret(tree, state.privatePath, leafNodeIndex, groupContext, path, excludeNodes, cs);
  const pathSecrets = await pathToRoot(tree, toNodeIndex(secret.nodeIndex), secret.pathSecret, cs.kdf);
  const newPkp = mergePrivateKeyPaths(state.privatePath, await toPrivateKeyPath(pathSecrets, state.privatePath.leafIndex, cs));
  const rootIndex = root(leafWidth(tree.length));
  const rootSecret = pathSecrets[rootIndex];
  if (rootSecret === void 0)
    throw new InternalError("Could not find secret for root");
  const commitSecret = await deriveSecret(rootSecret, "path", cs.kdf);
  return [newPkp, commitSecret];
}
async function processMessage(message, state, pskIndex, action, cs) {
  if (message.wireformat === "mls_public_message") {
    const result = await processPublicMessage(state, message.publicMessage, pskIndex, cs, action);
    return { ...result, kind: "newState" };
  } else
    return processPrivateMessage(state, message.privateMessage, emptyPskIndex, cs, action);
}

// ../typescript/node_modules/ts-mls/dist/src/crypto/implementation/default/makeHashImpl.js
function makeHashImpl(sc, h2) {
  return {
    async digest(data) {
      const result = await sc.digest(h2, toBufferSource(data));
      return new Uint8Array(result);
    },
    async mac(key, data) {
      const result = await sc.sign("HMAC", await importMacKey(key, h2), toBufferSource(data));
      return new Uint8Array(result);
    },
    async verifyMac(key, mac, data) {
      return sc.verify("HMAC", await importMacKey(key, h2), toBufferSource(mac), toBufferSource(data));
    }
  };
}
function importMacKey(rawKey, h2) {
  return crypto.subtle.importKey("raw", toBufferSource(rawKey), {
    name: "HMAC",
    hash: { name: h2 }
  }, false, ["sign", "verify"]);
}

// ../typescript/node_modules/@hpke/common/esm/src/errors.js
var HpkeError = class extends Error {
  constructor(e) {
    let message;
    if (e instanceof Error) {
      message = e.message;
    } else if (typeof e === "string") {
      message = e;
    } else {
      message = "";
    }
    super(message);
    this.name = this.constructor.name;
  }
};
var InvalidParamError = class extends HpkeError {
};
var SerializeError = class extends HpkeError {
};
var DeserializeError = class extends HpkeError {
};
var EncapError = class extends HpkeError {
};
var DecapError = class extends HpkeError {
};
var ExportError = class extends HpkeError {
};
var SealError = class extends HpkeError {
};
var OpenError = class extends HpkeError {
};
var MessageLimitReachedError = class extends HpkeError {
};
var DeriveKeyPairError = class extends HpkeError {
};
var NotSupportedError = class extends HpkeError {
};

// ../typescript/node_modules/@hpke/common/esm/_dnt.shims.js
var dntGlobals = {};
var dntGlobalThis = createMergeProxy(globalThis, dntGlobals);
function createMergeProxy(baseObj, extObj) {
  return new Proxy(baseObj, {
    get(_target, prop, _receiver) {
      if (prop in extObj) {
        return extObj[prop];
      } else {
        return baseObj[prop];
      }
    },
    set(_target, prop, value) {
      if (prop in extObj) {
        delete extObj[prop];
      }
      baseObj[prop] = value;
      return true;
    },
    deleteProperty(_target, prop) {
      let success = false;
      if (prop in extObj) {
        delete extObj[prop];
        success = true;
      }
      if (prop in baseObj) {
        delete baseObj[prop];
        success = true;
      }
      return success;
    },
    ownKeys(_target) {
      const baseKeys = Reflect.ownKeys(baseObj);
      const extKeys = Reflect.ownKeys(extObj);
      const extKeysSet = new Set(extKeys);
      return [...baseKeys.filter((k) => !extKeysSet.has(k)), ...extKeys];
    },
    defineProperty(_target, prop, desc) {
      if (prop in extObj) {
        delete extObj[prop];
      }
      Reflect.defineProperty(baseObj, prop, desc);
      return true;
    },
    getOwnPropertyDescriptor(_target, prop) {
      if (prop in extObj) {
        return Reflect.getOwnPropertyDescriptor(extObj, prop);
      } else {
        return Reflect.getOwnPropertyDescriptor(baseObj, prop);
      }
    },
    has(_target, prop) {
      return prop in extObj || prop in baseObj;
    }
  });
}

// ../typescript/node_modules/@hpke/common/esm/src/algorithm.js
async function loadSubtleCrypto() {
  if (dntGlobalThis !== void 0 && globalThis.crypto !== void 0) {
    return globalThis.crypto.subtle;
  }
  try {
    const { webcrypto } = await import("crypto");
    return webcrypto.subtle;
  } catch (e) {
    throw new NotSupportedError(e);
  }
}
var NativeAlgorithm = class {
  constructor() {
    Object.defineProperty(this, "_api", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
  }
  async _setup() {
    if (this._api !== void 0) {
      return;
    }
    this._api = await loadSubtleCrypto();
  }
};

// ../typescript/node_modules/@hpke/common/esm/src/identifiers.js
var Mode = {
  Base: 0,
  Psk: 1,
  Auth: 2,
  AuthPsk: 3
};
var KemId = {
  NotAssigned: 0,
  DhkemP256HkdfSha256: 16,
  DhkemP384HkdfSha384: 17,
  DhkemP521HkdfSha512: 18,
  DhkemSecp256k1HkdfSha256: 19,
  DhkemX25519HkdfSha256: 32,
  DhkemX448HkdfSha512: 33,
  HybridkemX25519Kyber768: 48,
  MlKem512: 64,
  MlKem768: 65,
  MlKem1024: 66,
  XWing: 25722
};
var KdfId = {
  HkdfSha256: 1,
  HkdfSha384: 2,
  HkdfSha512: 3,
  Sha3256: 4,
  Sha3384: 5,
  Sha3512: 6,
  Shake128: 16,
  Shake256: 17,
  TurboShake128: 18,
  TurboShake256: 19
};
var AeadId = {
  Aes128Gcm: 1,
  Aes256Gcm: 2,
  Chacha20Poly1305: 3,
  ExportOnly: 65535
};

// ../typescript/node_modules/@hpke/common/esm/src/consts.js
var INPUT_LENGTH_LIMIT = 8192;
var INFO_LENGTH_LIMIT = 268435456;
var MINIMUM_PSK_LENGTH = 32;
var EMPTY = /* @__PURE__ */ new Uint8Array(0);
var BYTE_TO_BIGINT_256 = /* @__PURE__ */ (() => {
  const out = new Array(256);
  let i = 0;
  let value = 0n;
  while (i < 256) {
    out[i] = value;
    i++;
    value += 1n;
  }
  return out;
})();

// ../typescript/node_modules/@hpke/common/esm/src/interfaces/kemInterface.js
var SUITE_ID_HEADER_KEM = /* @__PURE__ */ new Uint8Array([
  75,
  69,
  77,
  0,
  0
]);

// ../typescript/node_modules/@hpke/common/esm/src/kdfs/hkdf.js
var HPKE_VERSION = /* @__PURE__ */ new Uint8Array([
  72,
  80,
  75,
  69,
  45,
  118,
  49
]);
function toUint8Array(input) {
  return new Uint8Array(toArrayBuffer(input));
}
function toArrayBuffer(input) {
  if (input instanceof ArrayBuffer) {
    return input;
  }
  if (ArrayBuffer.isView(input)) {
    return new Uint8Array(input.buffer, input.byteOffset, input.byteLength).slice().buffer;
  }
  return new Uint8Array(input).slice().buffer;
}
var HkdfNative = class extends NativeAlgorithm {
  constructor() {
    super();
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: KdfId.HkdfSha256
    });
    Object.defineProperty(this, "hashSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "_suiteId", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: EMPTY
    });
    Object.defineProperty(this, "algHash", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: {
        name: "HMAC",
        hash: "SHA-256",
        length: 256
      }
    });
  }
  init(suiteId) {
    this._suiteId = suiteId;
  }
  buildLabeledIkm(label, ikm) {
    this._checkInit();
    const ret = new Uint8Array(7 + this._suiteId.byteLength + label.byteLength + ikm.byteLength);
    ret.set(HPKE_VERSION, 0);
    ret.set(this._suiteId, 7);
    ret.set(label, 7 + this._suiteId.byteLength);
    ret.set(ikm, 7 + this._suiteId.byteLength + label.byteLength);
    return ret;
  }
  buildLabeledInfo(label, info, len) {
    this._checkInit();
    const ret = new Uint8Array(9 + this._suiteId.byteLength + label.byteLength + info.byteLength);
    ret.set(new Uint8Array([0, len]), 0);
    ret.set(HPKE_VERSION, 2);
    ret.set(this._suiteId, 9);
    ret.set(label, 9 + this._suiteId.byteLength);
    ret.set(info, 9 + this._suiteId.byteLength + label.byteLength);
    return ret;
  }
  async extract(salt, ikm) {
    await this._setup();
    const saltBuf = salt.byteLength === 0 ? new ArrayBuffer(this.hashSize) : toArrayBuffer(salt);
    if (saltBuf.byteLength !== this.hashSize) {
      throw new InvalidParamError("The salt length must be the same as the hashSize");
    }
    const ikmBuf = toArrayBuffer(ikm);
    const key = await this._api.importKey("raw", saltBuf, this.algHash, false, [
      "sign"
    ]);
    return await this._api.sign("HMAC", key, ikmBuf);
  }
  async expand(prk, info, len) {
    await this._setup();
    const prkBuf = toArrayBuffer(prk);
    const key = await this._api.importKey("raw", prkBuf, this.algHash, false, [
      "sign"
    ]);
    const okm = new ArrayBuffer(len);
    const okmBytes = new Uint8Array(okm);
    let prev = EMPTY;
    const mid = toUint8Array(info);
    const tail = new Uint8Array(1);
    if (len > 255 * this.hashSize) {
      throw new Error("Entropy limit reached");
    }
    const tmp = new Uint8Array(this.hashSize + mid.length + 1);
    for (let i = 1, cur = 0; cur < okmBytes.length; i++) {
      tail[0] = i;
      tmp.set(prev, 0);
      tmp.set(mid, prev.length);
      tmp.set(tail, prev.length + mid.length);
      prev = new Uint8Array(await this._api.sign("HMAC", key, tmp.slice(0, prev.length + mid.length + 1)));
      if (okmBytes.length - cur >= prev.length) {
        okmBytes.set(prev, cur);
        cur += prev.length;
      } else {
        okmBytes.set(prev.slice(0, okmBytes.length - cur), cur);
        cur += okmBytes.length - cur;
      }
    }
    return okm;
  }
  async extractAndExpand(salt, ikm, info, len) {
    await this._setup();
    const ikmBuf = toArrayBuffer(ikm);
    const baseKey = await this._api.importKey("raw", ikmBuf, "HKDF", false, ["deriveBits"]);
    return await this._api.deriveBits({
      name: "HKDF",
      hash: this.algHash.hash,
      salt: toArrayBuffer(salt),
      info: toArrayBuffer(info)
    }, baseKey, len * 8);
  }
  async labeledExtract(salt, label, ikm) {
    return await this.extract(salt, this.buildLabeledIkm(label, ikm));
  }
  async labeledExpand(prk, label, info, len) {
    return await this.expand(prk, this.buildLabeledInfo(label, info, len), len);
  }
  _checkInit() {
    if (this._suiteId === EMPTY) {
      throw new Error("Not initialized. Call init()");
    }
  }
};
var HkdfSha256Native = class extends HkdfNative {
  constructor() {
    super(...arguments);
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: KdfId.HkdfSha256
    });
    Object.defineProperty(this, "hashSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "algHash", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: {
        name: "HMAC",
        hash: "SHA-256",
        length: 256
      }
    });
  }
};
var HkdfSha384Native = class extends HkdfNative {
  constructor() {
    super(...arguments);
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: KdfId.HkdfSha384
    });
    Object.defineProperty(this, "hashSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 48
    });
    Object.defineProperty(this, "algHash", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: {
        name: "HMAC",
        hash: "SHA-384",
        length: 384
      }
    });
  }
};
var HkdfSha512Native = class extends HkdfNative {
  constructor() {
    super(...arguments);
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: KdfId.HkdfSha512
    });
    Object.defineProperty(this, "hashSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 64
    });
    Object.defineProperty(this, "algHash", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: {
        name: "HMAC",
        hash: "SHA-512",
        length: 512
      }
    });
  }
};

// ../typescript/node_modules/@hpke/common/esm/src/utils/misc.js
var isCryptoKeyPair = (x) => typeof x === "object" && x !== null && typeof x.privateKey === "object" && typeof x.publicKey === "object";
function i2Osp(n, w) {
  if (w <= 0) {
    throw new Error("i2Osp: too small size");
  }
  if (n >= 256 ** w) {
    throw new Error("i2Osp: too large integer");
  }
  const ret = new Uint8Array(w);
  for (let i = 0; i < w && n; i++) {
    ret[w - (i + 1)] = n % 256;
    n = Math.floor(n / 256);
  }
  return ret;
}
function concat(a, b) {
  const ret = new Uint8Array(a.length + b.length);
  ret.set(a, 0);
  ret.set(b, a.length);
  return ret;
}
function base64UrlToBytes(v) {
  const base64 = v.replace(/-/g, "+").replace(/_/g, "/");
  const byteString = atob(base64);
  const ret = new Uint8Array(byteString.length);
  for (let i = 0; i < byteString.length; i++) {
    ret[i] = byteString.charCodeAt(i);
  }
  return ret;
}
function xor(a, b) {
  if (a.byteLength !== b.byteLength) {
    throw new Error("xor: different length inputs");
  }
  const buf = new Uint8Array(a.byteLength);
  for (let i = 0; i < a.byteLength; i++) {
    buf[i] = a[i] ^ b[i];
  }
  return buf;
}

// ../typescript/node_modules/@hpke/common/esm/src/kems/dhkem.js
var LABEL_EAE_PRK = /* @__PURE__ */ new Uint8Array([
  101,
  97,
  101,
  95,
  112,
  114,
  107
]);
var LABEL_SHARED_SECRET = /* @__PURE__ */ new Uint8Array([
  115,
  104,
  97,
  114,
  101,
  100,
  95,
  115,
  101,
  99,
  114,
  101,
  116
]);
function concat3(a, b, c) {
  const ret = new Uint8Array(a.length + b.length + c.length);
  ret.set(a, 0);
  ret.set(b, a.length);
  ret.set(c, a.length + b.length);
  return ret;
}
var Dhkem = class {
  constructor(id, prim, kdf) {
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "secretSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "encSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "publicKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "privateKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 0
    });
    Object.defineProperty(this, "_prim", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_kdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this.id = id;
    this._prim = prim;
    this._kdf = kdf;
    const suiteId = new Uint8Array(SUITE_ID_HEADER_KEM);
    suiteId.set(i2Osp(this.id, 2), 3);
    this._kdf.init(suiteId);
  }
  async serializePublicKey(key) {
    return await this._prim.serializePublicKey(key);
  }
  async deserializePublicKey(key) {
    return await this._prim.deserializePublicKey(toArrayBuffer(key));
  }
  async serializePrivateKey(key) {
    return await this._prim.serializePrivateKey(key);
  }
  async deserializePrivateKey(key) {
    return await this._prim.deserializePrivateKey(toArrayBuffer(key));
  }
  async importKey(format, key, isPublic = true) {
    return await this._prim.importKey(format, key, isPublic);
  }
  async generateKeyPair() {
    return await this._prim.generateKeyPair();
  }
  async deriveKeyPair(ikm) {
    const rawIkm = toArrayBuffer(ikm);
    if (rawIkm.byteLength > INPUT_LENGTH_LIMIT) {
      throw new InvalidParamError("Too long ikm");
    }
    return await this._prim.deriveKeyPair(rawIkm);
  }
  async encap(params) {
    let ke;
    if (params.ekm === void 0) {
      ke = await this.generateKeyPair();
    } else if (isCryptoKeyPair(params.ekm)) {
      ke = params.ekm;
    } else {
      ke = await this.deriveKeyPair(params.ekm);
    }
    const enc = await this._prim.serializePublicKey(ke.publicKey);
    const pkrm = await this._prim.serializePublicKey(params.recipientPublicKey);
    try {
      let dh;
      if (params.senderKey === void 0) {
        dh = new Uint8Array(await this._prim.dh(ke.privateKey, params.recipientPublicKey));
      } else {
        const sks = isCryptoKeyPair(params.senderKey) ? params.senderKey.privateKey : params.senderKey;
        const dh1 = new Uint8Array(await this._prim.dh(ke.privateKey, params.recipientPublicKey));
        const dh2 = new Uint8Array(await this._prim.dh(sks, params.recipientPublicKey));
        dh = concat(dh1, dh2);
      }
      let kemContext;
      if (params.senderKey === void 0) {
        kemContext = concat(new Uint8Array(enc), new Uint8Array(pkrm));
      } else {
        const pks = isCryptoKeyPair(params.senderKey) ? params.senderKey.publicKey : await this._prim.derivePublicKey(params.senderKey);
        const pksm = await this._prim.serializePublicKey(pks);
        kemContext = concat3(new Uint8Array(enc), new Uint8Array(pkrm), new Uint8Array(pksm));
      }
      const sharedSecret = await this._generateSharedSecret(dh, kemContext);
      return {
        enc,
        sharedSecret
      };
    } catch (e) {
      throw new EncapError(e);
    }
  }
  async decap(params) {
    const enc = toArrayBuffer(params.enc);
    const pke = await this._prim.deserializePublicKey(enc);
    const skr = isCryptoKeyPair(params.recipientKey) ? params.recipientKey.privateKey : params.recipientKey;
    const pkr = isCryptoKeyPair(params.recipientKey) ? params.recipientKey.publicKey : await this._prim.derivePublicKey(params.recipientKey);
    const pkrm = await this._prim.serializePublicKey(pkr);
    try {
      let dh;
      if (params.senderPublicKey === void 0) {
        dh = new Uint8Array(await this._prim.dh(skr, pke));
      } else {
        const dh1 = new Uint8Array(await this._prim.dh(skr, pke));
        const dh2 = new Uint8Array(await this._prim.dh(skr, params.senderPublicKey));
        dh = concat(dh1, dh2);
      }
      let kemContext;
      if (params.senderPublicKey === void 0) {
        kemContext = concat(new Uint8Array(enc), new Uint8Array(pkrm));
      } else {
        const pksm = await this._prim.serializePublicKey(params.senderPublicKey);
        kemContext = new Uint8Array(enc.byteLength + pkrm.byteLength + pksm.byteLength);
        kemContext.set(new Uint8Array(enc), 0);
        kemContext.set(new Uint8Array(pkrm), enc.byteLength);
        kemContext.set(new Uint8Array(pksm), enc.byteLength + pkrm.byteLength);
      }
      return await this._generateSharedSecret(dh, kemContext);
    } catch (e) {
      throw new DecapError(e);
    }
  }
  async _generateSharedSecret(dh, kemContext) {
    const labeledIkm = this._kdf.buildLabeledIkm(LABEL_EAE_PRK, dh);
    const labeledInfo = this._kdf.buildLabeledInfo(LABEL_SHARED_SECRET, kemContext, this.secretSize);
    return await this._kdf.extractAndExpand(EMPTY, labeledIkm, labeledInfo, this.secretSize);
  }
};

// ../typescript/node_modules/@hpke/common/esm/src/interfaces/dhkemPrimitives.js
var KEM_USAGES = ["deriveBits"];
var LABEL_DKP_PRK = /* @__PURE__ */ new Uint8Array([
  100,
  107,
  112,
  95,
  112,
  114,
  107
]);
var LABEL_SK = /* @__PURE__ */ new Uint8Array([115, 107]);

// ../typescript/node_modules/@hpke/common/esm/src/utils/bignum.js
var Bignum = class {
  constructor(size) {
    Object.defineProperty(this, "_num", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this._num = new Uint8Array(size);
  }
  val() {
    return this._num;
  }
  reset() {
    this._num.fill(0);
  }
  set(src) {
    if (src.length !== this._num.length) {
      throw new Error("Bignum.set: invalid argument");
    }
    this._num.set(src);
  }
  isZero() {
    for (let i = 0; i < this._num.length; i++) {
      if (this._num[i] !== 0) {
        return false;
      }
    }
    return true;
  }
  lessThan(v) {
    if (v.length !== this._num.length) {
      throw new Error("Bignum.lessThan: invalid argument");
    }
    for (let i = 0; i < this._num.length; i++) {
      if (this._num[i] < v[i]) {
        return true;
      }
      if (this._num[i] > v[i]) {
        return false;
      }
    }
    return false;
  }
};

// ../typescript/node_modules/@hpke/common/esm/src/kems/dhkemPrimitives/ec.js
var LABEL_CANDIDATE = /* @__PURE__ */ new Uint8Array([
  99,
  97,
  110,
  100,
  105,
  100,
  97,
  116,
  101
]);
var ORDER_P_256 = /* @__PURE__ */ new Uint8Array([
  255,
  255,
  255,
  255,
  0,
  0,
  0,
  0,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  188,
  230,
  250,
  173,
  167,
  23,
  158,
  132,
  243,
  185,
  202,
  194,
  252,
  99,
  37,
  81
]);
var ORDER_P_384 = /* @__PURE__ */ new Uint8Array([
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  199,
  99,
  77,
  129,
  244,
  55,
  45,
  223,
  88,
  26,
  13,
  178,
  72,
  176,
  167,
  122,
  236,
  236,
  25,
  106,
  204,
  197,
  41,
  115
]);
var ORDER_P_521 = /* @__PURE__ */ new Uint8Array([
  1,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  255,
  250,
  81,
  134,
  135,
  131,
  191,
  47,
  150,
  107,
  127,
  204,
  1,
  72,
  247,
  9,
  165,
  208,
  59,
  181,
  201,
  184,
  137,
  156,
  71,
  174,
  187,
  111,
  183,
  30,
  145,
  56,
  100,
  9
]);
var PKCS8_ALG_ID_P_256 = /* @__PURE__ */ new Uint8Array([
  48,
  65,
  2,
  1,
  0,
  48,
  19,
  6,
  7,
  42,
  134,
  72,
  206,
  61,
  2,
  1,
  6,
  8,
  42,
  134,
  72,
  206,
  61,
  3,
  1,
  7,
  4,
  39,
  48,
  37,
  2,
  1,
  1,
  4,
  32
]);
var PKCS8_ALG_ID_P_384 = /* @__PURE__ */ new Uint8Array([
  48,
  78,
  2,
  1,
  0,
  48,
  16,
  6,
  7,
  42,
  134,
  72,
  206,
  61,
  2,
  1,
  6,
  5,
  43,
  129,
  4,
  0,
  34,
  4,
  55,
  48,
  53,
  2,
  1,
  1,
  4,
  48
]);
var PKCS8_ALG_ID_P_521 = /* @__PURE__ */ new Uint8Array([
  48,
  96,
  2,
  1,
  0,
  48,
  16,
  6,
  7,
  42,
  134,
  72,
  206,
  61,
  2,
  1,
  6,
  5,
  43,
  129,
  4,
  0,
  35,
  4,
  73,
  48,
  71,
  2,
  1,
  1,
  4,
  66
]);
var EC_P_256_PARAMS = {
  p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
  b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
  coordinateSize: 32
};
var EC_P_384_PARAMS = {
  p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
  b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
  gx: 0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n,
  gy: 0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn,
  coordinateSize: 48
};
var EC_P_521_PARAMS = {
  p: (1n << 521n) - 1n,
  b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
  gx: 0x00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66n,
  gy: 0x011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650n,
  coordinateSize: 66
};
function mod(a, p) {
  const r = a % p;
  return r >= 0n ? r : r + p;
}
function modPow(base, exponent, p) {
  let result = 1n;
  let b = mod(base, p);
  let e = exponent;
  while (e > 0n) {
    if ((e & 1n) === 1n) {
      result = mod(result * b, p);
    }
    b = mod(b * b, p);
    e >>= 1n;
  }
  return result;
}
function modSqrt(rhs, p) {
  const y = modPow(rhs, p + 1n >> 2n, p);
  if (mod(y * y, p) !== mod(rhs, p)) {
    throw new Error("Invalid ECDH point");
  }
  return y;
}
function bytesToBigInt(bytes) {
  let v = 0n;
  for (const b of bytes) {
    v = v << 8n | BYTE_TO_BIGINT_256[b];
  }
  return v;
}
function bigIntToBytes(v, len) {
  const out = new Uint8Array(len);
  let n = v;
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  if (n !== 0n) {
    throw new Error("Invalid coordinate length");
  }
  return out;
}
function buildRawUncompressedPublicKey(x, y, coordinateSize) {
  const out = new Uint8Array(1 + coordinateSize * 2);
  out[0] = 4;
  out.set(bigIntToBytes(x, coordinateSize), 1);
  out.set(bigIntToBytes(y, coordinateSize), 1 + coordinateSize);
  return out;
}
var Ec = class extends NativeAlgorithm {
  constructor(kem, hkdf) {
    super();
    Object.defineProperty(this, "_hkdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_alg", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nPk", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nSk", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nDh", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_order", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_bitmask", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_pkcs8AlgId", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_curveParams", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this._hkdf = hkdf;
    switch (kem) {
      case KemId.DhkemP256HkdfSha256:
        this._alg = { name: "ECDH", namedCurve: "P-256" };
        this._nPk = 65;
        this._nSk = 32;
        this._nDh = 32;
        this._order = ORDER_P_256;
        this._bitmask = 255;
        this._pkcs8AlgId = PKCS8_ALG_ID_P_256;
        this._curveParams = EC_P_256_PARAMS;
        break;
      case KemId.DhkemP384HkdfSha384:
        this._alg = { name: "ECDH", namedCurve: "P-384" };
        this._nPk = 97;
        this._nSk = 48;
        this._nDh = 48;
        this._order = ORDER_P_384;
        this._bitmask = 255;
        this._pkcs8AlgId = PKCS8_ALG_ID_P_384;
        this._curveParams = EC_P_384_PARAMS;
        break;
      default:
        this._alg = { name: "ECDH", namedCurve: "P-521" };
        this._nPk = 133;
        this._nSk = 66;
        this._nDh = 66;
        this._order = ORDER_P_521;
        this._bitmask = 1;
        this._pkcs8AlgId = PKCS8_ALG_ID_P_521;
        this._curveParams = EC_P_521_PARAMS;
        break;
    }
  }
  async serializePublicKey(key) {
    await this._setup();
    try {
      return await this._api.exportKey("raw", key);
    } catch (e) {
      throw new SerializeError(e);
    }
  }
  async deserializePublicKey(key) {
    await this._setup();
    try {
      return await this._importRawKey(toArrayBuffer(key), true);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  async serializePrivateKey(key) {
    await this._setup();
    try {
      const jwk = await this._api.exportKey("jwk", key);
      if (!("d" in jwk)) {
        throw new Error("Not private key");
      }
      return base64UrlToBytes(jwk["d"]).buffer;
    } catch (e) {
      throw new SerializeError(e);
    }
  }
  async deserializePrivateKey(key) {
    await this._setup();
    try {
      return await this._importRawKey(toArrayBuffer(key), false);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  async importKey(format, key, isPublic) {
    await this._setup();
    try {
      if (format === "raw") {
        return await this._importRawKey(key, isPublic);
      }
      if (key instanceof ArrayBuffer) {
        throw new Error("Invalid jwk key format");
      }
      return await this._importJWK(key, isPublic);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  async generateKeyPair() {
    await this._setup();
    try {
      return await this._api.generateKey(this._alg, true, KEM_USAGES);
    } catch (e) {
      throw new NotSupportedError(e);
    }
  }
  async deriveKeyPair(ikm) {
    await this._setup();
    try {
      const rawIkm = toArrayBuffer(ikm);
      const dkpPrk = await this._hkdf.labeledExtract(EMPTY, LABEL_DKP_PRK, new Uint8Array(rawIkm));
      const bn = new Bignum(this._nSk);
      for (let counter = 0; bn.isZero() || !bn.lessThan(this._order); counter++) {
        if (counter > 255) {
          throw new Error("Faild to derive a key pair");
        }
        const bytes = new Uint8Array(await this._hkdf.labeledExpand(dkpPrk, LABEL_CANDIDATE, i2Osp(counter, 1), this._nSk));
        bytes[0] = bytes[0] & this._bitmask;
        bn.set(bytes);
      }
      const sk = await this._deserializePkcs8Key(bn.val());
      bn.reset();
      return {
        privateKey: sk,
        publicKey: await this.derivePublicKey(sk)
      };
    } catch (e) {
      throw new DeriveKeyPairError(e);
    }
  }
  async derivePublicKey(key) {
    await this._setup();
    try {
      const jwk = await this._api.exportKey("jwk", key);
      delete jwk["d"];
      delete jwk["key_ops"];
      return await this._api.importKey("jwk", jwk, this._alg, true, []);
    } catch {
      try {
        return await this._derivePublicKeyWithoutJwkExport(key);
      } catch (e) {
        throw new DeserializeError(e);
      }
    }
  }
  async dh(sk, pk) {
    try {
      await this._setup();
      const bits = await this._api.deriveBits({
        name: "ECDH",
        public: pk
      }, sk, this._nDh * 8);
      return bits;
    } catch (e) {
      throw new SerializeError(e);
    }
  }
  async _importRawKey(key, isPublic) {
    if (isPublic && key.byteLength !== this._nPk) {
      throw new Error("Invalid public key for the ciphersuite");
    }
    if (!isPublic && key.byteLength !== this._nSk) {
      throw new Error("Invalid private key for the ciphersuite");
    }
    if (isPublic) {
      return await this._api.importKey("raw", key, this._alg, true, []);
    }
    return await this._deserializePkcs8Key(new Uint8Array(key));
  }
  async _importJWK(key, isPublic) {
    if (typeof key.crv === "undefined" || key.crv !== this._alg.namedCurve) {
      throw new Error(`Invalid crv: ${key.crv}`);
    }
    if (isPublic) {
      if (typeof key.d !== "undefined") {
        throw new Error("Invalid key: `d` should not be set");
      }
      return await this._api.importKey("jwk", key, this._alg, true, []);
    }
    if (typeof key.d === "undefined") {
      throw new Error("Invalid key: `d` not found");
    }
    return await this._api.importKey("jwk", key, this._alg, true, KEM_USAGES);
  }
  async _deserializePkcs8Key(k) {
    const pkcs8Key = new Uint8Array(this._pkcs8AlgId.length + k.length);
    pkcs8Key.set(this._pkcs8AlgId, 0);
    pkcs8Key.set(k, this._pkcs8AlgId.length);
    return await this._api.importKey("pkcs8", pkcs8Key, this._alg, true, KEM_USAGES);
  }
  async _derivePublicKeyWithoutJwkExport(key) {
    const basePointRaw = buildRawUncompressedPublicKey(this._curveParams.gx, this._curveParams.gy, this._curveParams.coordinateSize);
    const basePoint = await this._api.importKey("raw", basePointRaw.buffer, this._alg, true, []);
    const xBytes = new Uint8Array(await this._api.deriveBits({
      name: "ECDH",
      public: basePoint
    }, key, this._nDh * 8));
    const p = this._curveParams.p;
    const x = bytesToBigInt(xBytes);
    const rhs = mod(modPow(x, 3n, p) - 3n * x + this._curveParams.b, p);
    let y = modSqrt(rhs, p);
    if ((y & 1n) === 1n) {
      y = p - y;
    }
    const pubRaw = buildRawUncompressedPublicKey(x, y, this._curveParams.coordinateSize);
    return await this._api.importKey("raw", pubRaw.buffer, this._alg, true, []);
  }
};

// ../typescript/node_modules/@hpke/common/esm/src/interfaces/aeadEncryptionContext.js
var AEAD_USAGES = ["encrypt", "decrypt"];

// ../typescript/node_modules/@hpke/common/esm/src/utils/noble.js
function isBytes(a) {
  return a instanceof Uint8Array || ArrayBuffer.isView(a) && a.constructor.name === "Uint8Array";
}
function anumber(n, title = "") {
  if (!Number.isSafeInteger(n) || n < 0) {
    const prefix = title && `"${title}" `;
    throw new Error(`${prefix}expected integer >0, got ${n}`);
  }
}
function abytes(value, length, title = "") {
  const bytes = isBytes(value);
  const len = value?.length;
  const needsLen = length !== void 0;
  if (!bytes || needsLen && len !== length) {
    const prefix = title && `"${title}" `;
    const ofLen = needsLen ? ` of length ${length}` : "";
    const got = bytes ? `length=${len}` : `type=${typeof value}`;
    throw new Error(prefix + "expected Uint8Array" + ofLen + ", got " + got);
  }
  return value;
}
function aexists(instance, checkFinished = true) {
  if (instance.destroyed)
    throw new Error("Hash instance has been destroyed");
  if (checkFinished && instance.finished) {
    throw new Error("Hash#digest() has already been called");
  }
}
function clean(...arrays) {
  for (let i = 0; i < arrays.length; i++) {
    arrays[i].fill(0);
  }
}
var _endianTestBuffer = /* @__PURE__ */ new Uint32Array([287454020]);
var _endianTestBytes = /* @__PURE__ */ new Uint8Array(_endianTestBuffer.buffer);
var isLE = _endianTestBytes[0] === 68;

// ../typescript/node_modules/@hpke/common/esm/src/hash/hash.js
function ahash(h2) {
  if (typeof h2 !== "function" || typeof h2.create !== "function") {
    throw new Error("Hash must wrapped by utils.createHasher");
  }
  anumber(h2.outputLen);
  anumber(h2.blockLen);
}

// ../typescript/node_modules/@hpke/common/esm/src/hash/hmac.js
var _HMAC = class {
  constructor(hash, key) {
    Object.defineProperty(this, "oHash", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "iHash", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "blockLen", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "outputLen", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "finished", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: false
    });
    Object.defineProperty(this, "destroyed", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: false
    });
    ahash(hash);
    abytes(key, void 0, "key");
    this.iHash = hash.create();
    if (typeof this.iHash.update !== "function") {
      throw new Error("Expected instance of class which extends utils.Hash");
    }
    this.blockLen = this.iHash.blockLen;
    this.outputLen = this.iHash.outputLen;
    const blockLen = this.blockLen;
    const pad = new Uint8Array(blockLen);
    pad.set(key.length > blockLen ? hash.create().update(key).digest() : key);
    for (let i = 0; i < pad.length; i++)
      pad[i] ^= 54;
    this.iHash.update(pad);
    this.oHash = hash.create();
    for (let i = 0; i < pad.length; i++)
      pad[i] ^= 54 ^ 92;
    this.oHash.update(pad);
    clean(pad);
  }
  update(buf) {
    aexists(this);
    this.iHash.update(buf);
    return this;
  }
  digestInto(out) {
    aexists(this);
    abytes(out, this.outputLen, "output");
    this.finished = true;
    this.iHash.digestInto(out);
    this.oHash.update(out);
    this.oHash.digestInto(out);
    this.destroy();
  }
  digest() {
    const out = new Uint8Array(this.oHash.outputLen);
    this.digestInto(out);
    return out;
  }
  _cloneInto(to) {
    to ||= Object.create(Object.getPrototypeOf(this), {});
    const { oHash, iHash, finished, destroyed, blockLen, outputLen } = this;
    to = to;
    to.finished = finished;
    to.destroyed = destroyed;
    to.blockLen = blockLen;
    to.outputLen = outputLen;
    to.oHash = oHash._cloneInto(to.oHash);
    to.iHash = iHash._cloneInto(to.iHash);
    return to;
  }
  clone() {
    return this._cloneInto();
  }
  destroy() {
    this.destroyed = true;
    this.oHash.destroy();
    this.iHash.destroy();
  }
};
var hmac = (hash, key, message) => new _HMAC(hash, key).update(message).digest();
hmac.create = (hash, key) => new _HMAC(hash, key);

// ../typescript/node_modules/@hpke/common/esm/src/hash/u64.js
var U32_MASK64 = 0xffffffffn;
var _32n = 32n;
function fromBig(n, le = false) {
  if (le) {
    return { h: Number(n & U32_MASK64), l: Number(n >> _32n & U32_MASK64) };
  }
  return {
    h: Number(n >> _32n & U32_MASK64) | 0,
    l: Number(n & U32_MASK64) | 0
  };
}
function split(lst, le = false) {
  const len = lst.length;
  const Ah = new Uint32Array(len);
  const Al = new Uint32Array(len);
  for (let i = 0; i < len; i++) {
    const { h: h2, l } = fromBig(lst[i], le);
    [Ah[i], Al[i]] = [h2, l];
  }
  return [Ah, Al];
}

// ../typescript/node_modules/@hpke/common/esm/src/hash/sha3.js
var _0n = 0n;
var _1n = 1n;
var _2n = 2n;
var _7n = 7n;
var _256n = 256n;
var _0x71n = 0x71n;
var SHA3_PI = [];
var SHA3_ROTL = [];
var _SHA3_IOTA = [];
for (let round = 0, R = _1n, x = 1, y = 0; round < 24; round++) {
  [x, y] = [y, (2 * x + 3 * y) % 5];
  SHA3_PI.push(2 * (5 * y + x));
  SHA3_ROTL.push((round + 1) * (round + 2) / 2 % 64);
  let t = _0n;
  for (let j = 0; j < 7; j++) {
    R = (R << _1n ^ (R >> _7n) * _0x71n) % _256n;
    if (R & _2n)
      t ^= _1n << (_1n << BigInt(j)) - _1n;
  }
  _SHA3_IOTA.push(t);
}
var IOTAS = split(_SHA3_IOTA, true);
var SHA3_IOTA_H = IOTAS[0];
var SHA3_IOTA_L = IOTAS[1];

// ../typescript/node_modules/@hpke/core/esm/src/aeads/aesGcm.js
var AesGcmContext = class extends NativeAlgorithm {
  constructor(key) {
    super();
    Object.defineProperty(this, "_rawKey", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_key", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this._rawKey = toArrayBuffer(key);
  }
  async seal(iv, data, aad) {
    await this._setupKey();
    const alg = {
      name: "AES-GCM",
      iv: toArrayBuffer(iv),
      additionalData: toArrayBuffer(aad)
    };
    const ct = await this._api.encrypt(alg, this._key, toArrayBuffer(data));
    return ct;
  }
  async open(iv, data, aad) {
    await this._setupKey();
    const alg = {
      name: "AES-GCM",
      iv: toArrayBuffer(iv),
      additionalData: toArrayBuffer(aad)
    };
    const pt = await this._api.decrypt(alg, this._key, toArrayBuffer(data));
    return pt;
  }
  async _setupKey() {
    if (this._key !== void 0) {
      return;
    }
    await this._setup();
    const key = await this._importKey(this._rawKey);
    new Uint8Array(this._rawKey).fill(0);
    this._key = key;
    return;
  }
  async _importKey(key) {
    return await this._api.importKey("raw", key, { name: "AES-GCM" }, true, AEAD_USAGES);
  }
};
var Aes128Gcm = class {
  constructor() {
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: AeadId.Aes128Gcm
    });
    Object.defineProperty(this, "keySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 16
    });
    Object.defineProperty(this, "nonceSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 12
    });
    Object.defineProperty(this, "tagSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 16
    });
  }
  createEncryptionContext(key) {
    return new AesGcmContext(key);
  }
};
var Aes256Gcm = class extends Aes128Gcm {
  constructor() {
    super(...arguments);
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: AeadId.Aes256Gcm
    });
    Object.defineProperty(this, "keySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "nonceSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 12
    });
    Object.defineProperty(this, "tagSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 16
    });
  }
};

// ../typescript/node_modules/@hpke/core/esm/src/utils/emitNotSupported.js
function emitNotSupported() {
  return new Promise((_resolve, reject) => {
    reject(new NotSupportedError("Not supported"));
  });
}

// ../typescript/node_modules/@hpke/core/esm/src/exporterContext.js
var LABEL_SEC = new Uint8Array([115, 101, 99]);
var ExporterContextImpl = class {
  constructor(api, kdf, exporterSecret) {
    Object.defineProperty(this, "_api", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "exporterSecret", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_kdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this._api = api;
    this._kdf = kdf;
    this.exporterSecret = exporterSecret;
  }
  async seal(_data, _aad) {
    return await emitNotSupported();
  }
  async open(_data, _aad) {
    return await emitNotSupported();
  }
  async export(exporterContext, len) {
    const rawExporterContext = toArrayBuffer(exporterContext);
    if (rawExporterContext.byteLength > INPUT_LENGTH_LIMIT) {
      throw new InvalidParamError("Too long exporter context");
    }
    try {
      return await this._kdf.labeledExpand(this.exporterSecret, LABEL_SEC, new Uint8Array(rawExporterContext), len);
    } catch (e) {
      throw new ExportError(e);
    }
  }
};
var RecipientExporterContextImpl = class extends ExporterContextImpl {
};
var SenderExporterContextImpl = class extends ExporterContextImpl {
  constructor(api, kdf, exporterSecret, enc) {
    super(api, kdf, exporterSecret);
    Object.defineProperty(this, "enc", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this.enc = enc;
    return;
  }
};

// ../typescript/node_modules/@hpke/core/esm/src/encryptionContext.js
var EncryptionContextImpl = class extends ExporterContextImpl {
  constructor(api, kdf, params) {
    super(api, kdf, params.exporterSecret);
    Object.defineProperty(this, "_aead", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nK", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nN", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nT", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_ctx", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    if (params.key === void 0 || params.baseNonce === void 0 || params.seq === void 0) {
      throw new Error("Required parameters are missing");
    }
    this._aead = params.aead;
    this._nK = this._aead.keySize;
    this._nN = this._aead.nonceSize;
    this._nT = this._aead.tagSize;
    const key = this._aead.createEncryptionContext(params.key);
    this._ctx = {
      key,
      baseNonce: params.baseNonce,
      seq: params.seq
    };
  }
  computeNonce(k) {
    const seqBytes = i2Osp(k.seq, k.baseNonce.byteLength);
    return xor(k.baseNonce, seqBytes).buffer;
  }
  incrementSeq(k) {
    if (k.seq > Number.MAX_SAFE_INTEGER) {
      throw new MessageLimitReachedError("Message limit reached");
    }
    k.seq += 1;
    return;
  }
};

// ../typescript/node_modules/@hpke/core/esm/src/mutex.js
var __classPrivateFieldGet = function(receiver, state, kind, f) {
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a getter");
  if (typeof state === "function" ? receiver !== state || !f : !state.has(receiver)) throw new TypeError("Cannot read private member from an object whose class did not declare it");
  return kind === "m" ? f : kind === "a" ? f.call(receiver) : f ? f.value : state.get(receiver);
};
var __classPrivateFieldSet = function(receiver, state, value, kind, f) {
  if (kind === "m") throw new TypeError("Private method is not writable");
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a setter");
  if (typeof state === "function" ? receiver !== state || !f : !state.has(receiver)) throw new TypeError("Cannot write private member to an object whose class did not declare it");
  return kind === "a" ? f.call(receiver, value) : f ? f.value = value : state.set(receiver, value), value;
};
var _Mutex_locked;
var Mutex = class {
  constructor() {
    _Mutex_locked.set(this, Promise.resolve());
  }
  async lock() {
    let releaseLock;
    const nextLock = new Promise((resolve) => {
      releaseLock = resolve;
    });
    const previousLock = __classPrivateFieldGet(this, _Mutex_locked, "f");
    __classPrivateFieldSet(this, _Mutex_locked, nextLock, "f");
    await previousLock;
    return releaseLock;
  }
};
_Mutex_locked = /* @__PURE__ */ new WeakMap();

// ../typescript/node_modules/@hpke/core/esm/src/recipientContext.js
var __classPrivateFieldGet2 = function(receiver, state, kind, f) {
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a getter");
  if (typeof state === "function" ? receiver !== state || !f : !state.has(receiver)) throw new TypeError("Cannot read private member from an object whose class did not declare it");
  return kind === "m" ? f : kind === "a" ? f.call(receiver) : f ? f.value : state.get(receiver);
};
var __classPrivateFieldSet2 = function(receiver, state, value, kind, f) {
  if (kind === "m") throw new TypeError("Private method is not writable");
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a setter");
  if (typeof state === "function" ? receiver !== state || !f : !state.has(receiver)) throw new TypeError("Cannot write private member to an object whose class did not declare it");
  return kind === "a" ? f.call(receiver, value) : f ? f.value = value : state.set(receiver, value), value;
};
var _RecipientContextImpl_mutex;
var RecipientContextImpl = class extends EncryptionContextImpl {
  constructor() {
    super(...arguments);
    _RecipientContextImpl_mutex.set(this, void 0);
  }
  async open(data, aad = EMPTY.buffer) {
    __classPrivateFieldSet2(this, _RecipientContextImpl_mutex, __classPrivateFieldGet2(this, _RecipientContextImpl_mutex, "f") ?? new Mutex(), "f");
    const release = await __classPrivateFieldGet2(this, _RecipientContextImpl_mutex, "f").lock();
    let pt;
    try {
      pt = await this._ctx.key.open(this.computeNonce(this._ctx), toArrayBuffer(data), toArrayBuffer(aad));
    } catch (e) {
      throw new OpenError(e);
    } finally {
      release();
    }
    this.incrementSeq(this._ctx);
    return pt;
  }
};
_RecipientContextImpl_mutex = /* @__PURE__ */ new WeakMap();

// ../typescript/node_modules/@hpke/core/esm/src/senderContext.js
var __classPrivateFieldGet3 = function(receiver, state, kind, f) {
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a getter");
  if (typeof state === "function" ? receiver !== state || !f : !state.has(receiver)) throw new TypeError("Cannot read private member from an object whose class did not declare it");
  return kind === "m" ? f : kind === "a" ? f.call(receiver) : f ? f.value : state.get(receiver);
};
var __classPrivateFieldSet3 = function(receiver, state, value, kind, f) {
  if (kind === "m") throw new TypeError("Private method is not writable");
  if (kind === "a" && !f) throw new TypeError("Private accessor was defined without a setter");
  if (typeof state === "function" ? receiver !== state || !f : !state.has(receiver)) throw new TypeError("Cannot write private member to an object whose class did not declare it");
  return kind === "a" ? f.call(receiver, value) : f ? f.value = value : state.set(receiver, value), value;
};
var _SenderContextImpl_mutex;
var SenderContextImpl = class extends EncryptionContextImpl {
  constructor(api, kdf, params, enc) {
    super(api, kdf, params);
    Object.defineProperty(this, "enc", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    _SenderContextImpl_mutex.set(this, void 0);
    this.enc = enc;
  }
  async seal(data, aad = EMPTY.buffer) {
    __classPrivateFieldSet3(this, _SenderContextImpl_mutex, __classPrivateFieldGet3(this, _SenderContextImpl_mutex, "f") ?? new Mutex(), "f");
    const release = await __classPrivateFieldGet3(this, _SenderContextImpl_mutex, "f").lock();
    let ct;
    try {
      ct = await this._ctx.key.seal(this.computeNonce(this._ctx), toArrayBuffer(data), toArrayBuffer(aad));
    } catch (e) {
      throw new SealError(e);
    } finally {
      release();
    }
    this.incrementSeq(this._ctx);
    return ct;
  }
};
_SenderContextImpl_mutex = /* @__PURE__ */ new WeakMap();

// ../typescript/node_modules/@hpke/core/esm/src/cipherSuiteNative.js
var LABEL_BASE_NONCE = new Uint8Array([
  98,
  97,
  115,
  101,
  95,
  110,
  111,
  110,
  99,
  101
]);
var LABEL_EXP = new Uint8Array([101, 120, 112]);
var LABEL_INFO_HASH = new Uint8Array([
  105,
  110,
  102,
  111,
  95,
  104,
  97,
  115,
  104
]);
var LABEL_KEY = new Uint8Array([107, 101, 121]);
var LABEL_PSK_ID_HASH = new Uint8Array([
  112,
  115,
  107,
  95,
  105,
  100,
  95,
  104,
  97,
  115,
  104
]);
var LABEL_SECRET = new Uint8Array([115, 101, 99, 114, 101, 116]);
var SUITE_ID_HEADER_HPKE = new Uint8Array([
  72,
  80,
  75,
  69,
  0,
  0,
  0,
  0,
  0,
  0
]);
var CipherSuiteNative = class extends NativeAlgorithm {
  /**
   * @param params A set of parameters for building a cipher suite.
   *
   * If the error occurred, throws {@link InvalidParamError}.
   *
   * @throws {@link InvalidParamError}
   */
  constructor(params) {
    super();
    Object.defineProperty(this, "_kem", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_kdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_aead", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_suiteId", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    if (typeof params.kem === "number") {
      throw new InvalidParamError("KemId cannot be used");
    }
    this._kem = params.kem;
    if (typeof params.kdf === "number") {
      throw new InvalidParamError("KdfId cannot be used");
    }
    this._kdf = params.kdf;
    if (typeof params.aead === "number") {
      throw new InvalidParamError("AeadId cannot be used");
    }
    this._aead = params.aead;
    this._suiteId = new Uint8Array(SUITE_ID_HEADER_HPKE);
    this._suiteId.set(i2Osp(this._kem.id, 2), 4);
    this._suiteId.set(i2Osp(this._kdf.id, 2), 6);
    this._suiteId.set(i2Osp(this._aead.id, 2), 8);
    this._kdf.init(this._suiteId);
  }
  /**
   * Gets the KEM context of the ciphersuite.
   */
  get kem() {
    return this._kem;
  }
  /**
   * Gets the KDF context of the ciphersuite.
   */
  get kdf() {
    return this._kdf;
  }
  /**
   * Gets the AEAD context of the ciphersuite.
   */
  get aead() {
    return this._aead;
  }
  /**
   * Creates an encryption context for a sender.
   *
   * If the error occurred, throws {@link DecapError} | {@link ValidationError}.
   *
   * @param params A set of parameters for the sender encryption context.
   * @returns A sender encryption context.
   * @throws {@link EncapError}, {@link ValidationError}
   */
  async createSenderContext(params) {
    this._validateInputLength(params);
    await this._setup();
    const dh = await this._kem.encap(params);
    let mode;
    if (params.psk !== void 0) {
      mode = params.senderKey !== void 0 ? Mode.AuthPsk : Mode.Psk;
    } else {
      mode = params.senderKey !== void 0 ? Mode.Auth : Mode.Base;
    }
    return await this._keyScheduleS(mode, dh.sharedSecret, dh.enc, params);
  }
  /**
   * Creates an encryption context for a recipient.
   *
   * If the error occurred, throws {@link DecapError}
   * | {@link DeserializeError} | {@link ValidationError}.
   *
   * @param params A set of parameters for the recipient encryption context.
   * @returns A recipient encryption context.
   * @throws {@link DecapError}, {@link DeserializeError}, {@link ValidationError}
   */
  async createRecipientContext(params) {
    this._validateInputLength(params);
    await this._setup();
    const sharedSecret = await this._kem.decap(params);
    let mode;
    if (params.psk !== void 0) {
      mode = params.senderPublicKey !== void 0 ? Mode.AuthPsk : Mode.Psk;
    } else {
      mode = params.senderPublicKey !== void 0 ? Mode.Auth : Mode.Base;
    }
    return await this._keyScheduleR(mode, sharedSecret, params);
  }
  /**
   * Encrypts a message to a recipient.
   *
   * If the error occurred, throws `EncapError` | `MessageLimitReachedError` | `SealError` | `ValidationError`.
   *
   * @param params A set of parameters for building a sender encryption context.
   * @param pt A plain text as bytes to be encrypted.
   * @param aad Additional authenticated data as bytes fed by an application.
   * @returns A cipher text and an encapsulated key as bytes.
   * @throws {@link EncapError}, {@link MessageLimitReachedError}, {@link SealError}, {@link ValidationError}
   */
  async seal(params, pt, aad = EMPTY.buffer) {
    const ctx = await this.createSenderContext(params);
    return {
      ct: await ctx.seal(pt, aad),
      enc: ctx.enc
    };
  }
  /**
   * Decrypts a message from a sender.
   *
   * If the error occurred, throws `DecapError` | `DeserializeError` | `OpenError` | `ValidationError`.
   *
   * @param params A set of parameters for building a recipient encryption context.
   * @param ct An encrypted text as bytes to be decrypted.
   * @param aad Additional authenticated data as bytes fed by an application.
   * @returns A decrypted plain text as bytes.
   * @throws {@link DecapError}, {@link DeserializeError}, {@link OpenError}, {@link ValidationError}
   */
  async open(params, ct, aad = EMPTY.buffer) {
    const ctx = await this.createRecipientContext(params);
    return await ctx.open(ct, aad);
  }
  // private verifyPskInputs(mode: Mode, params: KeyScheduleParams) {
  //   const gotPsk = (params.psk !== undefined);
  //   const gotPskId = (params.psk !== undefined && params.psk.id.byteLength > 0);
  //   if (gotPsk !== gotPskId) {
  //     throw new Error('Inconsistent PSK inputs');
  //   }
  //   if (gotPsk && (mode === Mode.Base || mode === Mode.Auth)) {
  //     throw new Error('PSK input provided when not needed');
  //   }
  //   if (!gotPsk && (mode === Mode.Psk || mode === Mode.AuthPsk)) {
  //     throw new Error('Missing required PSK input');
  //   }
  //   return;
  // }
  async _keySchedule(mode, sharedSecret, params) {
    const pskId = params.psk === void 0 ? EMPTY : toUint8Array(params.psk.id);
    const pskIdHash = await this._kdf.labeledExtract(EMPTY, LABEL_PSK_ID_HASH, pskId);
    const info = params.info === void 0 ? EMPTY : toUint8Array(params.info);
    const infoHash = await this._kdf.labeledExtract(EMPTY, LABEL_INFO_HASH, info);
    const keyScheduleContext = new Uint8Array(1 + pskIdHash.byteLength + infoHash.byteLength);
    keyScheduleContext.set(new Uint8Array([mode]), 0);
    keyScheduleContext.set(new Uint8Array(pskIdHash), 1);
    keyScheduleContext.set(new Uint8Array(infoHash), 1 + pskIdHash.byteLength);
    const psk = params.psk === void 0 ? EMPTY : toUint8Array(params.psk.key);
    const ikm = this._kdf.buildLabeledIkm(LABEL_SECRET, psk);
    const exporterSecretInfo = this._kdf.buildLabeledInfo(LABEL_EXP, keyScheduleContext, this._kdf.hashSize);
    const exporterSecret = await this._kdf.extractAndExpand(sharedSecret, ikm, exporterSecretInfo, this._kdf.hashSize);
    if (this._aead.id === AeadId.ExportOnly) {
      return { aead: this._aead, exporterSecret };
    }
    const keyInfo = this._kdf.buildLabeledInfo(LABEL_KEY, keyScheduleContext, this._aead.keySize);
    const key = await this._kdf.extractAndExpand(sharedSecret, ikm, keyInfo, this._aead.keySize);
    const baseNonceInfo = this._kdf.buildLabeledInfo(LABEL_BASE_NONCE, keyScheduleContext, this._aead.nonceSize);
    const baseNonce = await this._kdf.extractAndExpand(sharedSecret, ikm, baseNonceInfo, this._aead.nonceSize);
    return {
      aead: this._aead,
      exporterSecret,
      key,
      baseNonce: new Uint8Array(baseNonce),
      seq: 0
    };
  }
  async _keyScheduleS(mode, sharedSecret, enc, params) {
    const res = await this._keySchedule(mode, sharedSecret, params);
    if (res.key === void 0) {
      return new SenderExporterContextImpl(this._api, this._kdf, res.exporterSecret, enc);
    }
    return new SenderContextImpl(this._api, this._kdf, res, enc);
  }
  async _keyScheduleR(mode, sharedSecret, params) {
    const res = await this._keySchedule(mode, sharedSecret, params);
    if (res.key === void 0) {
      return new RecipientExporterContextImpl(this._api, this._kdf, res.exporterSecret);
    }
    return new RecipientContextImpl(this._api, this._kdf, res);
  }
  _validateInputLength(params) {
    if (params.info !== void 0 && params.info.byteLength > INFO_LENGTH_LIMIT) {
      throw new InvalidParamError("Too long info");
    }
    if (params.psk !== void 0) {
      if (params.psk.key.byteLength < MINIMUM_PSK_LENGTH) {
        throw new InvalidParamError(`PSK must have at least ${MINIMUM_PSK_LENGTH} bytes`);
      }
      if (params.psk.key.byteLength > INPUT_LENGTH_LIMIT) {
        throw new InvalidParamError("Too long psk.key");
      }
      if (params.psk.id.byteLength > INPUT_LENGTH_LIMIT) {
        throw new InvalidParamError("Too long psk.id");
      }
    }
    return;
  }
};

// ../typescript/node_modules/@hpke/core/esm/src/kems/dhkemNative.js
var DhkemP256HkdfSha256Native = class extends Dhkem {
  constructor() {
    const kdf = new HkdfSha256Native();
    const prim = new Ec(KemId.DhkemP256HkdfSha256, kdf);
    super(KemId.DhkemP256HkdfSha256, prim, kdf);
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: KemId.DhkemP256HkdfSha256
    });
    Object.defineProperty(this, "secretSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "encSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 65
    });
    Object.defineProperty(this, "publicKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 65
    });
    Object.defineProperty(this, "privateKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
  }
};
var DhkemP384HkdfSha384Native = class extends Dhkem {
  constructor() {
    const kdf = new HkdfSha384Native();
    const prim = new Ec(KemId.DhkemP384HkdfSha384, kdf);
    super(KemId.DhkemP384HkdfSha384, prim, kdf);
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: KemId.DhkemP384HkdfSha384
    });
    Object.defineProperty(this, "secretSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 48
    });
    Object.defineProperty(this, "encSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 97
    });
    Object.defineProperty(this, "publicKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 97
    });
    Object.defineProperty(this, "privateKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 48
    });
  }
};
var DhkemP521HkdfSha512Native = class extends Dhkem {
  constructor() {
    const kdf = new HkdfSha512Native();
    const prim = new Ec(KemId.DhkemP521HkdfSha512, kdf);
    super(KemId.DhkemP521HkdfSha512, prim, kdf);
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: KemId.DhkemP521HkdfSha512
    });
    Object.defineProperty(this, "secretSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 64
    });
    Object.defineProperty(this, "encSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 133
    });
    Object.defineProperty(this, "publicKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 133
    });
    Object.defineProperty(this, "privateKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 64
    });
  }
};

// ../typescript/node_modules/@hpke/core/esm/src/native.js
var CipherSuite = class extends CipherSuiteNative {
};
var DhkemP256HkdfSha256 = class extends DhkemP256HkdfSha256Native {
};
var DhkemP384HkdfSha384 = class extends DhkemP384HkdfSha384Native {
};
var DhkemP521HkdfSha512 = class extends DhkemP521HkdfSha512Native {
};
var HkdfSha256 = class extends HkdfSha256Native {
};
var HkdfSha384 = class extends HkdfSha384Native {
};
var HkdfSha512 = class extends HkdfSha512Native {
};

// ../typescript/node_modules/@hpke/core/esm/src/kems/dhkemPrimitives/x25519.js
var ALG_NAME = "X25519";
var PKCS8_ALG_ID_X25519 = new Uint8Array([
  48,
  46,
  2,
  1,
  0,
  48,
  5,
  6,
  3,
  43,
  101,
  110,
  4,
  34,
  4,
  32
]);
var BASE_POINT_X25519 = /* @__PURE__ */ (() => {
  const p = new Uint8Array(32);
  p[0] = 9;
  return p;
})();
var X25519 = class extends NativeAlgorithm {
  constructor(hkdf) {
    super();
    Object.defineProperty(this, "_hkdf", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_alg", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nPk", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nSk", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_nDh", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    Object.defineProperty(this, "_pkcs8AlgId", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: void 0
    });
    this._alg = { name: ALG_NAME };
    this._hkdf = hkdf;
    this._nPk = 32;
    this._nSk = 32;
    this._nDh = 32;
    this._pkcs8AlgId = PKCS8_ALG_ID_X25519;
  }
  async serializePublicKey(key) {
    await this._setup();
    try {
      return await this._api.exportKey("raw", key);
    } catch (e) {
      throw new SerializeError(e);
    }
  }
  async deserializePublicKey(key) {
    await this._setup();
    try {
      return await this._importRawKey(toArrayBuffer(key), true);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  async serializePrivateKey(key) {
    await this._setup();
    try {
      const jwk = await this._api.exportKey("jwk", key);
      if (!("d" in jwk)) {
        throw new Error("Not private key");
      }
      return base64UrlToBytes(jwk["d"]).buffer;
    } catch (e) {
      throw new SerializeError(e);
    }
  }
  async deserializePrivateKey(key) {
    await this._setup();
    try {
      return await this._importRawKey(toArrayBuffer(key), false);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  async importKey(format, key, isPublic) {
    await this._setup();
    try {
      if (format === "raw") {
        return await this._importRawKey(key, isPublic);
      }
      if (key instanceof ArrayBuffer) {
        throw new Error("Invalid jwk key format");
      }
      return await this._importJWK(key, isPublic);
    } catch (e) {
      throw new DeserializeError(e);
    }
  }
  async generateKeyPair() {
    await this._setup();
    try {
      return await this._api.generateKey(ALG_NAME, true, KEM_USAGES);
    } catch (e) {
      throw new NotSupportedError(e);
    }
  }
  async deriveKeyPair(ikm) {
    await this._setup();
    try {
      const rawIkm = toArrayBuffer(ikm);
      const dkpPrk = await this._hkdf.labeledExtract(EMPTY, LABEL_DKP_PRK, new Uint8Array(rawIkm));
      const rawSk = await this._hkdf.labeledExpand(dkpPrk, LABEL_SK, EMPTY, this._nSk);
      const rawSkBytes = new Uint8Array(rawSk);
      const sk = await this._deserializePkcs8Key(rawSkBytes);
      rawSkBytes.fill(0);
      return {
        privateKey: sk,
        publicKey: await this.derivePublicKey(sk)
      };
    } catch (e) {
      throw new DeriveKeyPairError(e);
    }
  }
  async derivePublicKey(key) {
    await this._setup();
    try {
      const jwk = await this._api.exportKey("jwk", key);
      delete jwk["d"];
      delete jwk["key_ops"];
      return await this._api.importKey("jwk", jwk, this._alg, true, []);
    } catch {
      try {
        const bp = await this._api.importKey("raw", BASE_POINT_X25519.buffer, this._alg, true, []);
        const bits = await this._api.deriveBits({
          name: ALG_NAME,
          public: bp
        }, key, this._nPk * 8);
        return await this._api.importKey("raw", bits, this._alg, true, []);
      } catch (e) {
        throw new DeserializeError(e);
      }
    }
  }
  async dh(sk, pk) {
    await this._setup();
    try {
      const bits = await this._api.deriveBits({
        name: ALG_NAME,
        public: pk
      }, sk, this._nDh * 8);
      return bits;
    } catch (e) {
      throw new SerializeError(e);
    }
  }
  async _importRawKey(key, isPublic) {
    if (isPublic && key.byteLength !== this._nPk) {
      throw new Error("Invalid public key for the ciphersuite");
    }
    if (!isPublic && key.byteLength !== this._nSk) {
      throw new Error("Invalid private key for the ciphersuite");
    }
    if (isPublic) {
      return await this._api.importKey("raw", key, this._alg, true, []);
    }
    return await this._deserializePkcs8Key(new Uint8Array(key));
  }
  async _importJWK(key, isPublic) {
    if (typeof key.kty === "undefined" || key.kty !== "OKP") {
      throw new Error(`Invalid kty: ${key.crv}`);
    }
    if (typeof key.crv === "undefined" || key.crv !== ALG_NAME) {
      throw new Error(`Invalid crv: ${key.crv}`);
    }
    if (isPublic) {
      if (typeof key.d !== "undefined") {
        throw new Error("Invalid key: `d` should not be set");
      }
      return await this._api.importKey("jwk", key, this._alg, true, []);
    }
    if (typeof key.d === "undefined") {
      throw new Error("Invalid key: `d` not found");
    }
    return await this._api.importKey("jwk", key, this._alg, true, KEM_USAGES);
  }
  async _deserializePkcs8Key(k) {
    const pkcs8Key = new Uint8Array(this._pkcs8AlgId.length + k.length);
    pkcs8Key.set(this._pkcs8AlgId, 0);
    pkcs8Key.set(k, this._pkcs8AlgId.length);
    return await this._api.importKey("pkcs8", pkcs8Key, this._alg, true, KEM_USAGES);
  }
};

// ../typescript/node_modules/@hpke/core/esm/src/kems/dhkemX25519.js
var DhkemX25519HkdfSha256 = class extends Dhkem {
  constructor() {
    const kdf = new HkdfSha256Native();
    super(KemId.DhkemX25519HkdfSha256, new X25519(kdf), kdf);
    Object.defineProperty(this, "id", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: KemId.DhkemX25519HkdfSha256
    });
    Object.defineProperty(this, "secretSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "encSize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "publicKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
    Object.defineProperty(this, "privateKeySize", {
      enumerable: true,
      configurable: true,
      writable: true,
      value: 32
    });
  }
};

// ../typescript/node_modules/@hpke/core/esm/src/kems/dhkemPrimitives/x448.js
var PKCS8_ALG_ID_X448 = new Uint8Array([
  48,
  70,
  2,
  1,
  0,
  48,
  5,
  6,
  3,
  43,
  101,
  111,
  4,
  58,
  4,
  56
]);

// ../typescript/node_modules/ts-mls/dist/src/crypto/implementation/hpke.js
async function makeGenericHpke(hpkealg, aead, cs) {
  return {
    async open(privateKey, kemOutput, ciphertext, info, aad) {
      try {
        const result = await cs.open({ recipientKey: privateKey, enc: bytesToArrayBuffer(kemOutput), info: bytesToArrayBuffer(info) }, bytesToArrayBuffer(ciphertext), aad ? bytesToArrayBuffer(aad) : new ArrayBuffer());
        return new Uint8Array(result);
      } catch (e) {
        throw new CryptoError(`${e}`);
      }
    },
    async seal(publicKey, plaintext, info, aad) {
      const result = await cs.seal({ recipientPublicKey: publicKey, info: bytesToArrayBuffer(info) }, bytesToArrayBuffer(plaintext), aad ? bytesToArrayBuffer(aad) : new ArrayBuffer());
      return {
        ct: new Uint8Array(result.ct),
        enc: new Uint8Array(result.enc)
      };
    },
    async exportSecret(publicKey, exporterContext, length, info) {
      const context = await cs.createSenderContext({ recipientPublicKey: publicKey, info: bytesToArrayBuffer(info) });
      return {
        enc: new Uint8Array(context.enc),
        secret: new Uint8Array(await context.export(bytesToArrayBuffer(exporterContext), length))
      };
    },
    async importSecret(privateKey, exporterContext, kemOutput, length, info) {
      try {
        const context = await cs.createRecipientContext({
          recipientKey: privateKey,
          info: bytesToArrayBuffer(info),
          enc: bytesToArrayBuffer(kemOutput)
        });
        return new Uint8Array(await context.export(bytesToArrayBuffer(exporterContext), length));
      } catch (e) {
        throw new CryptoError(`${e}`);
      }
    },
    async importPrivateKey(k) {
      try {
        const key = hpkealg.kem === "DHKEM-P521-HKDF-SHA512" ? prepadPrivateKeyP521(k) : k;
        return await cs.kem.deserializePrivateKey(bytesToArrayBuffer(key));
      } catch (e) {
        throw new CryptoError(`${e}`);
      }
    },
    async importPublicKey(k) {
      try {
        return await cs.kem.deserializePublicKey(bytesToArrayBuffer(k));
      } catch (e) {
        throw new CryptoError(`${e}`);
      }
    },
    async exportPublicKey(k) {
      return new Uint8Array(await cs.kem.serializePublicKey(k));
    },
    async exportPrivateKey(k) {
      return new Uint8Array(await cs.kem.serializePrivateKey(k));
    },
    async encryptAead(key, nonce, aad, plaintext) {
      return aead.encrypt(key, nonce, aad ? aad : new Uint8Array(), plaintext);
    },
    async decryptAead(key, nonce, aad, ciphertext) {
      try {
        return await aead.decrypt(key, nonce, aad ? aad : new Uint8Array(), ciphertext);
      } catch (e) {
        throw new CryptoError(`${e}`);
      }
    },
    async deriveKeyPair(ikm) {
      const kp = await cs.kem.deriveKeyPair(bytesToArrayBuffer(ikm));
      return { privateKey: kp.privateKey, publicKey: kp.publicKey };
    },
    async generateKeyPair() {
      const kp = await cs.kem.generateKeyPair();
      return { privateKey: kp.privateKey, publicKey: kp.publicKey };
    },
    keyLength: cs.aead.keySize,
    nonceLength: cs.aead.nonceSize
  };
}
function prepadPrivateKeyP521(k) {
  const lengthDifference = 66 - k.byteLength;
  return concatUint8Arrays(new Uint8Array(lengthDifference), k);
}

// ../typescript/node_modules/ts-mls/dist/src/crypto/implementation/default/makeAead.js
async function makeAead(aeadAlg) {
  switch (aeadAlg) {
    case "AES128GCM":
      return [
        {
          encrypt(key, nonce, aad, plaintext) {
            return encryptAesGcm(key, nonce, aad, plaintext);
          },
          decrypt(key, nonce, aad, ciphertext) {
            return decryptAesGcm(key, nonce, aad, ciphertext);
          }
        },
        new Aes128Gcm()
      ];
    case "AES256GCM":
      return [
        {
          encrypt(key, nonce, aad, plaintext) {
            return encryptAesGcm(key, nonce, aad, plaintext);
          },
          decrypt(key, nonce, aad, ciphertext) {
            return decryptAesGcm(key, nonce, aad, ciphertext);
          }
        },
        new Aes256Gcm()
      ];
    case "CHACHA20POLY1305":
      try {
        const { Chacha20Poly1305 } = await import("@hpke/chacha20poly1305");
        const { chacha20poly1305: chacha20poly13052 } = await Promise.resolve().then(() => (init_chacha(), chacha_exports));
        return [
          {
            async encrypt(key, nonce, aad, plaintext) {
              return chacha20poly13052(key, nonce, aad).encrypt(plaintext);
            },
            async decrypt(key, nonce, aad, ciphertext) {
              return chacha20poly13052(key, nonce, aad).decrypt(ciphertext);
            }
          },
          new Chacha20Poly1305()
        ];
      } catch (err) {
        throw new DependencyError("Optional dependency '@hpke/chacha20poly1305' is not installed. Please install it to use this feature.");
      }
  }
}
async function encryptAesGcm(key, nonce, aad, plaintext) {
  const cryptoKey = await crypto.subtle.importKey("raw", toBufferSource(key), { name: "AES-GCM" }, false, ["encrypt"]);
  const params = {
    name: "AES-GCM",
    iv: toBufferSource(nonce)
  };
  if (aad.length > 0) {
    params.additionalData = toBufferSource(aad);
  }
  const result = await crypto.subtle.encrypt(params, cryptoKey, toBufferSource(plaintext));
  return new Uint8Array(result);
}
async function decryptAesGcm(key, nonce, aad, ciphertext) {
  const cryptoKey = await crypto.subtle.importKey("raw", toBufferSource(key), { name: "AES-GCM" }, false, ["decrypt"]);
  const params = {
    name: "AES-GCM",
    iv: toBufferSource(nonce)
  };
  if (aad.length > 0) {
    params.additionalData = toBufferSource(aad);
  }
  const result = await crypto.subtle.decrypt(params, cryptoKey, toBufferSource(ciphertext));
  return new Uint8Array(result);
}

// ../typescript/node_modules/ts-mls/dist/src/crypto/implementation/default/makeKdfImpl.js
function makeKdfImpl(k) {
  return {
    async extract(salt, ikm) {
      const result = await k.extract(bytesToArrayBuffer(salt), bytesToArrayBuffer(ikm));
      return new Uint8Array(result);
    },
    async expand(prk, info, len) {
      const result = await k.expand(bytesToArrayBuffer(prk), bytesToArrayBuffer(info), len);
      return new Uint8Array(result);
    },
    size: k.hashSize
  };
}
function makeKdf(kdfAlg) {
  switch (kdfAlg) {
    case "HKDF-SHA256":
      return new HkdfSha256();
    case "HKDF-SHA384":
      return new HkdfSha384();
    case "HKDF-SHA512":
      return new HkdfSha512();
  }
}

// ../typescript/node_modules/ts-mls/dist/src/crypto/implementation/default/makeDhKem.js
async function makeDhKem(kemAlg) {
  switch (kemAlg) {
    case "DHKEM-P256-HKDF-SHA256":
      return new DhkemP256HkdfSha256();
    case "DHKEM-X25519-HKDF-SHA256":
      return new DhkemX25519HkdfSha256();
    case "DHKEM-X448-HKDF-SHA512": {
      try {
        const { DhkemX448HkdfSha512: DhkemX448HkdfSha5122 } = await import("@hpke/dhkem-x448");
        return new DhkemX448HkdfSha5122();
      } catch (err) {
        throw new DependencyError("Optional dependency '@hpke/dhkem-x448' is not installed. Please install it to use this feature.");
      }
    }
    case "DHKEM-P521-HKDF-SHA512":
      return new DhkemP521HkdfSha512();
    case "DHKEM-P384-HKDF-SHA384":
      return new DhkemP384HkdfSha384();
    case "ML-KEM-512":
      try {
        const { MlKem512 } = await import("@hpke/ml-kem");
        return new MlKem512();
      } catch (err) {
        throw new DependencyError("Optional dependency '@hpke/ml-kem' is not installed. Please install it to use this feature.");
      }
    case "ML-KEM-768":
      try {
        const { MlKem768 } = await import("@hpke/ml-kem");
        return new MlKem768();
      } catch (err) {
        throw new DependencyError("Optional dependency '@hpke/ml-kem' is not installed. Please install it to use this feature.");
      }
    case "ML-KEM-1024":
      try {
        const { MlKem1024 } = await import("@hpke/ml-kem");
        return new MlKem1024();
      } catch (err) {
        throw new DependencyError("Optional dependency '@hpke/ml-kem' is not installed. Please install it to use this feature.");
      }
    case "X-Wing":
      try {
        const { XWing } = await import("@hpke/hybridkem-x-wing");
        return new XWing();
      } catch (err) {
        throw new DependencyError("Optional dependency '@hpke/hybridkem-x-wing' is not installed. Please install it to use this feature.");
      }
  }
}

// ../typescript/node_modules/ts-mls/dist/src/crypto/implementation/default/makeHpke.js
async function makeHpke(hpkealg) {
  const [aead, aeadInterface] = await makeAead(hpkealg.aead);
  const cs = new CipherSuite({
    kem: await makeDhKem(hpkealg.kem),
    kdf: makeKdf(hpkealg.kdf),
    aead: aeadInterface
  });
  return makeGenericHpke(hpkealg, aead, cs);
}

// ../typescript/node_modules/ts-mls/dist/src/crypto/implementation/default/rng.js
var defaultRng = {
  randomBytes(n) {
    return crypto.getRandomValues(new Uint8Array(n));
  }
};

// ../typescript/node_modules/ts-mls/dist/src/crypto/implementation/default/makeNobleSignatureImpl.js
function rawEd25519ToPKCS8(rawKey) {
  const oid = new Uint8Array([6, 3, 43, 101, 112]);
  const innerOctetString = new Uint8Array([4, 32, ...rawKey]);
  const privateKeyField = new Uint8Array([4, 34, ...innerOctetString]);
  const algorithmSeq = new Uint8Array([48, 5, ...oid]);
  const version = new Uint8Array([2, 1, 0]);
  const content = new Uint8Array([...version, ...algorithmSeq, ...privateKeyField]);
  return new Uint8Array([48, content.length, ...content]);
}
async function makeNobleSignatureImpl(alg) {
  switch (alg) {
    case "Ed25519": {
      const subtle = globalThis.crypto?.subtle;
      if (subtle !== void 0) {
        return {
          async sign(signKey, message) {
            const keyData = signKey.length === 32 ? rawEd25519ToPKCS8(signKey) : signKey;
            const key = await subtle.importKey("pkcs8", toBufferSource(keyData), "Ed25519", false, ["sign"]);
            const sig = await subtle.sign("Ed25519", key, toBufferSource(message));
            return new Uint8Array(sig);
          },
          async verify(publicKey, message, signature) {
            const key = await subtle.importKey("raw", toBufferSource(publicKey), "Ed25519", false, ["verify"]);
            return subtle.verify("Ed25519", key, toBufferSource(signature), toBufferSource(message));
          },
          async keygen() {
            const keyPair = await subtle.generateKey("Ed25519", true, ["sign", "verify"]);
            const publicKeyBuffer = await subtle.exportKey("raw", keyPair.publicKey);
            const privateKeyBuffer = await subtle.exportKey("pkcs8", keyPair.privateKey);
            const publicKey = new Uint8Array(publicKeyBuffer);
            const signKey = new Uint8Array(privateKeyBuffer);
            return { signKey, publicKey };
          }
        };
      }
      try {
        const { ed25519: ed255192 } = await Promise.resolve().then(() => (init_ed25519(), ed25519_exports));
        return {
          async sign(signKey, message) {
            return ed255192.sign(message, signKey);
          },
          async verify(publicKey, message, signature) {
            return ed255192.verify(signature, message, publicKey);
          },
          async keygen() {
            const signKey = ed255192.utils.randomSecretKey();
            return { signKey, publicKey: ed255192.getPublicKey(signKey) };
          }
        };
      } catch (err) {
        throw new DependencyError("Optional dependency '@noble/curves' is not installed. Please install it to use this feature.");
      }
    }
    case "Ed448":
      try {
        const { ed448: ed4482 } = await Promise.resolve().then(() => (init_ed448(), ed448_exports));
        return {
          async sign(signKey, message) {
            return ed4482.sign(message, signKey);
          },
          async verify(publicKey, message, signature) {
            return ed4482.verify(signature, message, publicKey);
          },
          async keygen() {
            const signKey = ed4482.utils.randomSecretKey();
            return { signKey, publicKey: ed4482.getPublicKey(signKey) };
          }
        };
      } catch (err) {
        throw new DependencyError("Optional dependency '@noble/curves' is not installed. Please install it to use this feature.");
      }
    case "P256":
      try {
        const { p256: p2562 } = await Promise.resolve().then(() => (init_nist(), nist_exports));
        return {
          async sign(signKey, message) {
            return p2562.sign(message, signKey, { prehash: true, format: "der", lowS: false });
          },
          async verify(publicKey, message, signature) {
            return p2562.verify(signature, message, publicKey, { prehash: true, format: "der", lowS: false });
          },
          async keygen() {
            const signKey = p2562.utils.randomSecretKey();
            return { signKey, publicKey: p2562.getPublicKey(signKey) };
          }
        };
      } catch (err) {
        throw new DependencyError("Optional dependency '@noble/curves' is not installed. Please install it to use this feature.");
      }
    case "P384":
      try {
        const { p384: p3842 } = await Promise.resolve().then(() => (init_nist(), nist_exports));
        return {
          async sign(signKey, message) {
            return p3842.sign(message, signKey, { prehash: true, format: "der", lowS: false });
          },
          async verify(publicKey, message, signature) {
            return p3842.verify(signature, message, publicKey, { prehash: true, format: "der", lowS: false });
          },
          async keygen() {
            const signKey = p3842.utils.randomSecretKey();
            return { signKey, publicKey: p3842.getPublicKey(signKey) };
          }
        };
      } catch (err) {
        throw new DependencyError("Optional dependency '@noble/curves' is not installed. Please install it to use this feature.");
      }
    case "P521":
      try {
        const { p521: p5212 } = await Promise.resolve().then(() => (init_nist(), nist_exports));
        return {
          async sign(signKey, message) {
            return p5212.sign(message, signKey, { prehash: true, format: "der", lowS: false });
          },
          async verify(publicKey, message, signature) {
            return p5212.verify(signature, message, publicKey, { prehash: true, format: "der", lowS: false });
          },
          async keygen() {
            const signKey = p5212.utils.randomSecretKey();
            return { signKey, publicKey: p5212.getPublicKey(signKey) };
          }
        };
      } catch (err) {
        throw new DependencyError("Optional dependency '@noble/curves' is not installed. Please install it to use this feature.");
      }
    case "ML-DSA-87":
      try {
        const { ml_dsa87 } = await import("@noble/post-quantum/ml-dsa.js");
        return {
          async sign(signKey, message) {
            return ml_dsa87.sign(message, signKey);
          },
          async verify(publicKey, message, signature) {
            return ml_dsa87.verify(signature, message, publicKey);
          },
          async keygen() {
            const keys = ml_dsa87.keygen(crypto.getRandomValues(new Uint8Array(32)));
            return { signKey: keys.secretKey, publicKey: keys.publicKey };
          }
        };
      } catch (err) {
        throw new DependencyError("Optional dependency '@noble/post-quantum' is not installed. Please install it to use this feature.");
      }
  }
}

// ../typescript/node_modules/ts-mls/dist/src/crypto/implementation/default/provider.js
var defaultCryptoProvider = {
  async getCiphersuiteImpl(cs) {
    const sc = crypto.subtle;
    return {
      kdf: makeKdfImpl(makeKdf(cs.hpke.kdf)),
      hash: makeHashImpl(sc, cs.hash),
      signature: await makeNobleSignatureImpl(cs.signature),
      hpke: await makeHpke(cs.hpke),
      rng: defaultRng,
      name: cs.name
    };
  }
};

// ../typescript/node_modules/ts-mls/dist/src/crypto/getCiphersuiteImpl.js
async function getCiphersuiteImpl(cs, provider = defaultCryptoProvider) {
  return provider.getCiphersuiteImpl(cs);
}

// ../typescript/node_modules/ts-mls/dist/src/message.js
var mlsPublicMessageEncoder = contramapBufferEncoders([wireformatEncoder, publicMessageEncoder], (msg) => [msg.wireformat, msg.publicMessage]);
var encodeMlsPublicMessage = encode(mlsPublicMessageEncoder);
var mlsWelcomeEncoder = contramapBufferEncoders([wireformatEncoder, welcomeEncoder], (wm) => [wm.wireformat, wm.welcome]);
var encodeMlsWelcome = encode(mlsWelcomeEncoder);
var mlsPrivateMessageEncoder = contramapBufferEncoders([wireformatEncoder, privateMessageEncoder], (pm) => [pm.wireformat, pm.privateMessage]);
var encodeMlsPrivateMessage = encode(mlsPrivateMessageEncoder);
var mlsGroupInfoEncoder = contramapBufferEncoders([wireformatEncoder, groupInfoEncoder], (gi) => [gi.wireformat, gi.groupInfo]);
var encodeMlsGroupInfo = encode(mlsGroupInfoEncoder);
var mlsKeyPackageEncoder = contramapBufferEncoders([wireformatEncoder, keyPackageEncoder], (kp) => [kp.wireformat, kp.keyPackage]);
var encodeMlsKeyPackage = encode(mlsKeyPackageEncoder);
var mlsMessageContentEncoder = (mc) => {
  switch (mc.wireformat) {
    case "mls_public_message":
      return mlsPublicMessageEncoder(mc);
    case "mls_welcome":
      return mlsWelcomeEncoder(mc);
    case "mls_private_message":
      return mlsPrivateMessageEncoder(mc);
    case "mls_group_info":
      return mlsGroupInfoEncoder(mc);
    case "mls_key_package":
      return mlsKeyPackageEncoder(mc);
  }
};
var encodeMlsMessageContent = encode(mlsMessageContentEncoder);
var decodeMlsMessageContent = flatMapDecoder(decodeWireformat, (wireformat) => {
  switch (wireformat) {
    case "mls_public_message":
      return mapDecoder(decodePublicMessage, (publicMessage) => ({ wireformat, publicMessage }));
    case "mls_welcome":
      return mapDecoder(decodeWelcome, (welcome) => ({ wireformat, welcome }));
    case "mls_private_message":
      return mapDecoder(decodePrivateMessage, (privateMessage) => ({ wireformat, privateMessage }));
    case "mls_group_info":
      return mapDecoder(decodeGroupInfo, (groupInfo) => ({ wireformat, groupInfo }));
    case "mls_key_package":
      return mapDecoder(decodeKeyPackage, (keyPackage) => ({ wireformat, keyPackage }));
  }
});
var mlsMessageEncoder = contramapBufferEncoders([protocolVersionEncoder, mlsMessageContentEncoder], (w) => [w.version, w]);
var encodeMlsMessage = encode(mlsMessageEncoder);
var decodeMlsMessage = mapDecoders([decodeProtocolVersion, decodeMlsMessageContent], (version, mc) => ({ ...mc, version }));

// ../typescript/node_modules/ts-mls/dist/src/grease.js
var greaseValues = [
  2570,
  6682,
  10794,
  14906,
  19018,
  23130,
  27242,
  31354,
  35466,
  39578,
  43690,
  47802,
  51914,
  56026,
  60138
];
var defaultGreaseConfig = {
  probabilityPerGreaseValue: 0.1
};
function grease(greaseConfig) {
  return greaseValues.filter(() => greaseConfig.probabilityPerGreaseValue > Math.random());
}
function greaseCiphersuites(greaseConfig) {
  return grease(greaseConfig).map((n) => n.toString());
}
function greaseCredentials(greaseConfig) {
  return grease(greaseConfig).map((n) => n.toString());
}
function greaseCapabilities(config, capabilities) {
  return {
    ciphersuites: [...capabilities.ciphersuites, ...greaseCiphersuites(config)],
    credentials: [...capabilities.credentials, ...greaseCredentials(config)],
    extensions: [...capabilities.extensions, ...grease(config)],
    proposals: [...capabilities.proposals, ...grease(config)],
    versions: capabilities.versions
  };
}

// ../typescript/node_modules/ts-mls/dist/src/defaultCapabilities.js
function defaultCapabilities() {
  return greaseCapabilities(defaultGreaseConfig, {
    versions: ["mls10"],
    ciphersuites: Object.keys(ciphersuites),
    extensions: [],
    proposals: [],
    credentials: ["basic", "x509"]
  });
}

// ../typescript/src/e2e/suite.ts
var CIPHERSUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
var DEVICE_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
var USER_PATTERN = /^[A-Za-z0-9._@:+=|-]{1,128}$/;
var suite;
function cipherSuite() {
  suite ??= getCiphersuiteImpl(getCiphersuiteFromName(CIPHERSUITE));
  return suite;
}
function identityOf(ref) {
  return `${ref.user}/${ref.device}`;
}
function credentialOf(ref) {
  return { credentialType: "basic", identity: utf8(identityOf(ref)) };
}
function deviceOf(credential) {
  if (credential.credentialType !== "basic") return void 0;
  let text;
  try {
    text = fromUtf8(credential.identity);
  } catch {
    return void 0;
  }
  const slash = text.indexOf("/");
  const ref = { user: text.slice(0, slash), device: text.slice(slash + 1) };
  return slash > 0 && USER_PATTERN.test(ref.user) && DEVICE_ID_PATTERN.test(ref.device) ? ref : void 0;
}
var authService = {
  validateCredential: (credential) => Promise.resolve(deviceOf(credential) !== void 0)
};
var clientConfig = {
  keyRetentionConfig: defaultKeyRetentionConfig,
  lifetimeConfig: defaultLifetimeConfig,
  keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
  paddingConfig: defaultPaddingConfig,
  authService
};

// ../typescript/src/e2e/group.ts
function decodeMessage(bytes) {
  const decoded = decodeMlsMessage(bytes, 0);
  if (decoded === void 0 || decoded[1] !== bytes.length) throw new Error("not one MLS message");
  return decoded[0];
}
function encodeWelcome2(welcome) {
  return encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome });
}
function encodeKeyPackage2(keyPackage) {
  return encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage });
}
function framing(message) {
  if (message.wireformat === "mls_private_message") {
    const pm = message.privateMessage;
    return { groupId: pm.groupId, epoch: Number(pm.epoch), contentType: pm.contentType };
  }
  if (message.wireformat === "mls_public_message") {
    const c = message.publicMessage.content;
    return { groupId: c.groupId, epoch: Number(c.epoch), contentType: c.contentType };
  }
  return void 0;
}
var MlsGroup = class _MlsGroup {
  #state;
  /** While a commit waits, consumed secrets are not zeroed (the prepared state may share them). */
  holdSecrets = false;
  constructor(state) {
    this.#state = state;
  }
  /** A new group of one (this device), at epoch 0, with a random 32-byte group id. */
  static async create(device) {
    const cs = await cipherSuite();
    const own = await generateKeyPackageWithKey(credentialOf({ user: device.user, device: device.id }), defaultCapabilities(), defaultLifetime, [], device.signatureKeyPair(), cs);
    return new _MlsGroup(await createGroup(randomBytes(32), own.publicPackage, own.privatePackage, [], cs, clientConfig));
  }
  /** Joins from a Welcome made for `own` (the ratchet tree comes in the Welcome's extension). */
  static async join(welcome, own) {
    const cs = await cipherSuite();
    return new _MlsGroup(await joinGroup(welcome, own.publicPackage, own.privatePackage, emptyPskIndex, cs, void 0, void 0, clientConfig));
  }
  /** A group saved with {@link encode}. */
  static decode(bytes) {
    return new _MlsGroup(decodeState(bytes));
  }
  /** The state's bytes (ts-mls's encoding, secrets included). */
  encode() {
    return encodeGroupState(this.#state);
  }
  /** The current epoch. */
  get epoch() {
    return Number(this.#state.groupContext.epoch);
  }
  /** The group id. */
  get groupId() {
    return this.#state.groupContext.groupId;
  }
  /** Whether this device is still a member (a commit may have removed it). */
  get active() {
    return this.#state.groupActiveState.kind === "active";
  }
  /** The members, in leaf order. */
  members() {
    return membersOf(this.#state.ratchetTree);
  }
  /** The member whose credential is `identity`. */
  member(identity) {
    return this.members().find((m) => m.identity === identity);
  }
  /** Encrypts `text` as an application message (a PrivateMessage); returns the MLSMessage bytes. */
  async encrypt(text) {
    const cs = await cipherSuite();
    const out = await createApplicationMessage(this.#state, utf8(text), cs);
    this.#state = out.newState;
    this.#consumed(out.consumed);
    return encodeMlsMessage({ version: "mls10", wireformat: "mls_private_message", privateMessage: out.privateMessage });
  }
  /**
   * A Commit that adds `add` and removes the members at the `remove` leaves (or, with neither,
   * updates this device's own path), with a Welcome carrying the ratchet tree for the added
   * devices. The group's state does not change: {@link adopt} the result once it is stored.
   */
  async prepareCommit(add3, remove) {
    const cs = await cipherSuite();
    const proposals = [
      ...remove.map((removed) => ({ proposalType: "remove", remove: { removed } })),
      ...add3.map((keyPackage) => ({ proposalType: "add", add: { keyPackage } }))
    ];
    const out = await createCommit({ state: this.#state, cipherSuite: cs }, { extraProposals: proposals, ratchetTreeExtension: true, wireAsPublicMessage: false });
    return {
      commit: encodeMlsMessage(out.commit),
      welcome: out.welcome === void 0 ? void 0 : encodeWelcome2(out.welcome),
      epoch: this.epoch,
      state: out.newState,
      consumed: out.consumed
    };
  }
  /** Applies a prepared commit (the server stored it): the group moves to its epoch. */
  adopt(prepared) {
    this.#state = prepared.state;
    for (const secret of prepared.consumed) zeroOutUint8Array(secret);
  }
  /** The members a prepared commit would add and remove. */
  static diff(before, after) {
    const key = (m) => `${m.identity}\0${toHex(m.signaturePublicKey)}`;
    const had = new Set(before.map(key));
    const has = new Set(after.map(key));
    return { added: after.filter((m) => !had.has(key(m))), removed: before.filter((m) => !has.has(key(m))) };
  }
  /** The bytes of a prepared commit's state. */
  static encodeState(state) {
    return encodeGroupState(state);
  }
  /** Members of a prepared commit's state. */
  static membersOf(state) {
    return membersOf(state.ratchetTree);
  }
  /** Processes one room message of the group (not this device's own). Throws when it cannot. */
  async process(message) {
    if (message.wireformat === "mls_private_message" && message.privateMessage.contentType === "application") {
      return this.#openApplication(message.privateMessage);
    }
    if (message.wireformat !== "mls_private_message" && message.wireformat !== "mls_public_message") {
      throw new Error(`a ${message.wireformat} is not a room message`);
    }
    const cs = await cipherSuite();
    const before = this.members();
    let committer;
    const out = await processMessage(message, this.#state, emptyPskIndex, (incoming) => {
      if (incoming.kind === "commit") committer = incoming.senderLeafIndex;
      return "accept";
    }, cs);
    const epoch = this.epoch;
    this.#state = out.newState;
    this.#consumed(out.consumed);
    if (out.kind === "applicationMessage") return { kind: "proposal", epoch };
    if (this.epoch === epoch && this.active) return { kind: "proposal", epoch };
    const { added, removed } = _MlsGroup.diff(before, this.members());
    const by = committer === void 0 ? void 0 : before.find((m) => m.leaf === committer);
    return { kind: "commit", committer: by, added, removed, epoch: this.epoch, removedSelf: !this.active };
  }
  /** An application message, current or from one of the past epochs ts-mls keeps (4), with its sender. */
  async #openApplication(pm) {
    const cs = await cipherSuite();
    const s = this.#state;
    const config = s.clientConfig.keyRetentionConfig;
    let tree;
    let next;
    let opened;
    if (pm.epoch === s.groupContext.epoch) {
      opened = await unprotectPrivateMessage(s.keySchedule.senderDataSecret, pm, s.secretTree, s.ratchetTree, s.groupContext, config, cs);
      tree = s.ratchetTree;
      next = { ...s, secretTree: opened.tree };
    } else {
      const past = pm.epoch < s.groupContext.epoch ? s.historicalReceiverData.get(pm.epoch) : void 0;
      if (past === void 0) throw new Error(`no keys for epoch ${pm.epoch} (the group is at ${s.groupContext.epoch})`);
      opened = await unprotectPrivateMessage(past.senderDataSecret, pm, past.secretTree, past.ratchetTree, past.groupContext, config, cs);
      tree = past.ratchetTree;
      next = { ...s, historicalReceiverData: new Map(s.historicalReceiverData).set(pm.epoch, { ...past, secretTree: opened.tree }) };
    }
    const content = opened.content.content;
    if (content.contentType !== "application" || content.sender.senderType !== "member") throw new Error("not an application message of a member");
    const leaf = content.sender.leafIndex;
    const sender = membersOf(tree).find((m) => m.leaf === leaf);
    if (sender === void 0) throw new Error("the sender has no leaf");
    this.#state = next;
    this.#consumed(opened.consumed);
    return { kind: "application", text: fromUtf8(content.applicationData), sender, epoch: Number(pm.epoch) };
  }
  #consumed(secrets) {
    if (!this.holdSecrets) for (const secret of secrets) zeroOutUint8Array(secret);
  }
};
function decodeState(bytes) {
  const decoded = decodeGroupState(bytes, 0);
  if (decoded === void 0) throw new Error("not a saved group state");
  return { ...decoded[0], clientConfig };
}
function membersOf(tree) {
  const out = [];
  tree.forEach((node, index) => {
    if (node?.nodeType !== "leaf") return;
    const ref = deviceOf(node.leaf.credential);
    if (ref === void 0) return;
    out.push({ ...ref, identity: identityOf(ref), signaturePublicKey: node.leaf.signaturePublicKey, leaf: index / 2 });
  });
  return out;
}

// ../typescript/src/e2e/keys.ts
var MAX_PER_PUBLISH = 20;
var MAX_ONE_TIME = 100;
var KeyPackages = class {
  #device;
  #request;
  #replenishing;
  /** @internal */
  constructor(device, request) {
    this.#device = device;
    this.#request = request;
  }
  /**
   * Makes and publishes `count` one-time KeyPackages (in requests of 20) and, with
   * `lastResort`, a new last-resort one (replacing the device's). Their private keys are stored
   * first, so a Welcome made from any of them can be used after a restart. Resolves with what
   * the server then holds; rejects with the server's `forbidden` past 100 one-time packages.
   */
  async publish(count, options = {}) {
    if (!Number.isInteger(count) || count < 0 || count > MAX_ONE_TIME) throw new RangeError("count is 0–100");
    const lastResort = options.lastResort === true;
    if (count === 0 && !lastResort) return this.count();
    const made = await this.#device.createKeyPackages(count, lastResort);
    let status;
    for (let i = 0; i < Math.max(made.oneTime.length, 1); i += MAX_PER_PUBLISH) {
      const request = { action: "keys.publish", device: this.#device.id };
      const chunk = made.oneTime.slice(i, i + MAX_PER_PUBLISH);
      if (chunk.length > 0) request.keyPackages = chunk;
      if (i === 0 && made.lastResort !== void 0) request.lastResort = made.lastResort;
      status = await this.#keys(request);
    }
    return status ?? this.count();
  }
  /** What the server holds for this device. */
  count() {
    return this.#keys({ action: "keys.count", device: this.#device.id });
  }
  /**
   * Publishes one-time KeyPackages up to `target` when fewer than `threshold` are left, and a
   * last-resort one when the device has none. One at a time: concurrent calls share the run.
   * Resolves with what the server holds and how many one-time packages were published.
   */
  replenish(options = {}) {
    this.#replenishing ??= this.#replenish(options).finally(() => {
      this.#replenishing = void 0;
    });
    return this.#replenishing;
  }
  /** Retires this device in the directory: the server forgets it and its packages. */
  remove() {
    return this.#keys({ action: "keys.remove", device: this.#device.id });
  }
  /**
   * Claims one KeyPackage per device of `user` (consuming one-time ones) and checks each: a
   * KeyPackage message of ciphersuite 1 whose basic credential names exactly `{user}/{device}` as
   * claimed, with a valid signature and a lifetime that includes now. This device itself is
   * left out.
   */
  async claim(user) {
    const frame = await this.#request({ action: "keys.claim", user }, (f) => f.type === "keyPackages" && f.user === user);
    const result = { valid: [], rejected: [] };
    for (const claimed of frame.keyPackages) {
      if (user === this.#device.user && claimed.device === this.#device.id) continue;
      try {
        result.valid.push(await checkClaimed(user, claimed));
      } catch (error) {
        const e = error instanceof E2eError ? error : new E2eError("invalid_key_package", `${user}/${claimed.device}: ${String(error)}`, { cause: error });
        result.rejected.push({ device: claimed.device, error: e });
      }
    }
    return result;
  }
  async #replenish(options) {
    const threshold = options.threshold ?? 10;
    const target = Math.min(options.target ?? 50, MAX_ONE_TIME);
    const status = await this.count();
    const want = status.oneTime < threshold ? Math.max(0, target - status.oneTime) : 0;
    if (want === 0 && status.lastResort) return { ...status, published: 0 };
    return { ...await this.publish(want, { lastResort: !status.lastResort }), published: want };
  }
  async #keys(request) {
    const frame = await this.#request(request, (f) => f.type === "keys" && f.device === this.#device.id);
    return { device: frame.device, oneTime: frame.oneTime, lastResort: frame.lastResort };
  }
};
async function checkClaimed(user, claimed) {
  const name = `${user}/${claimed.device}`;
  const fail = (why) => {
    throw new E2eError("invalid_key_package", `the KeyPackage of ${name} ${why}`);
  };
  let bytes;
  try {
    bytes = fromBase64(claimed.keyPackage);
  } catch {
    return fail("is not base64");
  }
  const decoded = decodeMlsMessage(bytes, 0);
  if (decoded === void 0 || decoded[1] !== bytes.length) return fail("is not one MLS message");
  const message = decoded[0];
  if (message.version !== "mls10" || message.wireformat !== "mls_key_package") return fail("is not an MLS 1.0 KeyPackage");
  const kp = message.keyPackage;
  if (kp.cipherSuite !== CIPHERSUITE) fail(`is for ciphersuite ${kp.cipherSuite}, not ${CIPHERSUITE}`);
  const owner = deviceOf(kp.leafNode.credential);
  if (owner === void 0 || owner.user !== user || owner.device !== claimed.device) fail("has a credential that does not name it");
  const cs = await cipherSuite();
  if (!await verifyKeyPackage(kp, cs.signature)) fail("has an invalid signature");
  const now = BigInt(Math.floor(Date.now() / 1e3));
  const life = kp.leafNode.leafNodeSource === "key_package" ? kp.leafNode.lifetime : void 0;
  if (life === void 0 || life.notBefore > now || life.notAfter < now) fail("is not valid now (lifetime)");
  return { user, device: claimed.device, keyPackage: kp, lastResort: claimed.lastResort === true };
}

// ../typescript/src/e2e/record.ts
function recordKey(room) {
  return `room:${room}`;
}
function parseRecord(raw) {
  if (raw === void 0) return void 0;
  const record = JSON.parse(raw);
  if (record.v !== 1) throw new Error(`unknown room record version ${String(record.v)}`);
  return record;
}

// ../typescript/src/e2e/incoming.ts
async function take(s, message) {
  if (s.group === void 0 || message.seq <= s.processed) return;
  if (message.seq > s.processed + 1) await fill(s, message.seq);
  if (message.seq <= s.processed) return;
  await processMessage2(s, message);
}
async function catchUp(s) {
  const last = s.host.lastSeq(s.room) ?? 0;
  if (last > s.processed) await fill(s, last + 1);
}
async function fill(s, before) {
  const from = s.processed;
  const got = /* @__PURE__ */ new Map();
  let cursor = before;
  try {
    while (cursor > from + 1) {
      const page = await s.host.history(s.room, cursor, 100);
      for (const m of page.messages) if (m.seq > from && m.seq < before) got.set(m.seq, m);
      const first = page.messages[0];
      if (!page.hasMore || first === void 0 || first.seq <= from + 1) break;
      cursor = first.seq;
    }
  } catch (error) {
    s.events.emit("error", new E2eError("gap", `could not fetch seqs ${from + 1}–${before - 1} of ${s.room}: ${String(error)}`, { room: s.room, cause: error }));
  }
  for (const m of [...got.values()].sort((a, b) => a.seq - b.seq)) {
    if (m.seq !== s.processed + 1) gap(s, m.seq);
    await processMessage2(s, m);
  }
  if (s.processed < before - 1) gap(s, before);
}
function gap(s, next) {
  s.events.emit("error", new E2eError("gap", `seqs ${s.processed + 1}–${next - 1} of ${s.room} are missing (past retention?); the group may be out of step`, { room: s.room, seq: s.processed + 1 }));
  s.processed = next - 1;
}
async function processMessage2(s, message) {
  s.processed = message.seq;
  s.dirty = true;
  const group = s.group;
  if (group === void 0) return;
  const pending = s.pending;
  if (ownEcho(s, group, pending, message)) return;
  const decoded = decodeFor(s, group, pending, message);
  if (decoded === void 0 || !group.active) return;
  let out;
  try {
    out = await group.process(decoded);
  } catch (error) {
    return undecryptable(s, message, error);
  }
  if (out.kind === "application") {
    if (out.sender.user !== message.from) {
      s.events.emit("error", new E2eError("sender_mismatch", `seq ${message.seq} of ${s.room} was sent by ${message.from} but signed by ${out.sender.identity}`, { room: s.room, seq: message.seq }));
      return;
    }
    return emitMessage(s, message, out.sender.device, out.text, out.epoch, false);
  }
  if (out.kind === "commit") committed(s, group, pending, message, out);
}
function ownEcho(s, group, pending, message) {
  if (message.from !== s.host.device.user || message.clientMsgId === void 0) return false;
  if (pending !== void 0 && message.clientMsgId === pending.clientMsgId) {
    applied(s, group, pending, message);
    return true;
  }
  const text = s.sent.get(message.clientMsgId);
  if (text === void 0) return false;
  s.sent.delete(message.clientMsgId);
  emitMessage(s, message, s.host.device.id, text, group.epoch, true);
  return true;
}
function decodeFor(s, group, pending, message) {
  let decoded;
  try {
    decoded = decodeMessage(fromBase64(message.body));
  } catch (error) {
    undecryptable(s, message, error);
    return void 0;
  }
  const frame = framing(decoded);
  if (frame === void 0) {
    undecryptable(s, message, "not a room message");
    return void 0;
  }
  if (sameBytes(frame.groupId, group.groupId)) return decoded;
  if (frame.contentType === "commit" && pending?.op.intent.kind === "create" && group.epoch === 0) {
    s.pending = void 0;
    s.group = void 0;
    pending.op.reject?.(new E2eError("group_exists", `${message.from} made ${s.room}'s group first; ask a member to add you`, { room: s.room, seq: message.seq }));
    return void 0;
  }
  undecryptable(s, message, "a message of another group");
  return void 0;
}
function committed(s, group, pending, message, out) {
  if (out.committer !== void 0 && out.committer.user !== message.from) {
    s.events.emit("error", new E2eError("sender_mismatch", `the Commit at seq ${message.seq} of ${s.room} was sent by ${message.from} but signed by ${out.committer.identity}`, { room: s.room, seq: message.seq }));
  }
  if (pending !== void 0) {
    s.pending = void 0;
    group.holdSecrets = false;
    pending.op.conflicts += 1;
    s.work.unshift({ kind: "op", op: pending.op });
  }
  const change = { room: s.room, seq: message.seq, epoch: out.epoch, from: message.from, by: out.committer, added: out.added, removed: out.removed };
  s.events.emit("members", change);
  if (out.removedSelf) {
    s.events.emit("removed", change);
    s.rejectWork(new E2eError("not_member", `this device was removed from ${s.room}'s group`, { room: s.room, seq: message.seq }));
  }
}
function applied(s, group, pending, message) {
  group.adopt(pending.prepared);
  group.holdSecrets = false;
  s.pending = void 0;
  const change = {
    room: s.room,
    seq: message.seq,
    epoch: group.epoch,
    from: message.from,
    by: group.member(s.host.device.identity),
    added: pending.added,
    removed: pending.removed
  };
  s.events.emit("members", change);
  const result = { room: s.room, seq: message.seq, epoch: group.epoch, added: pending.added, removed: pending.removed, conflicts: pending.op.conflicts };
  if (pending.welcome !== void 0) result.welcome = pending.welcome.message;
  pending.op.resolve?.(result);
}
function emitMessage(s, message, device, text, epoch, own) {
  const out = { room: s.room, seq: message.seq, id: message.id, from: message.from, device, text, sentAt: message.sentAt, epoch, own };
  if (message.clientMsgId !== void 0) out.clientMsgId = message.clientMsgId;
  s.events.emit("message", out);
}
function undecryptable(s, message, why) {
  const reason = why instanceof Error ? why.message : String(why);
  s.events.emit("error", new E2eError("undecryptable", `seq ${message.seq} of ${s.room} from ${message.from}: ${reason}`, { room: s.room, seq: message.seq, cause: why }));
}

// ../typescript/src/e2e/outgoing.ts
var MAX_BODY = 16384;
var MAX_WELCOME = 65536;
var MAX_WELCOME_TO = 50;
var MAX_FRAME = 32768;
async function claim(s, users, required) {
  const found = [];
  const rejected = [];
  for (const user of users) {
    const claimed = await s.host.keys.claim(user);
    found.push(...claimed.valid);
    for (const r of claimed.rejected) {
      rejected.push(r.error);
      s.events.emit("error", r.error);
    }
  }
  if (required && found.length === 0) {
    const why = rejected.length > 0 ? `: ${rejected.map((e) => e.message).join("; ")}` : "";
    throw new E2eError("no_key_packages", `no device of ${users.join(", ")} has a usable KeyPackage${why}`, { room: s.room });
  }
  return found;
}
function intentOf(kind, add3, remove) {
  return {
    kind,
    add: add3.map((k) => ({ user: k.user, device: k.device, keyPackage: toBase64(encodeKeyPackage2(k.keyPackage)), lastResort: k.lastResort })),
    remove
  };
}
async function startCommit(s, op, transmit) {
  const fail = (error) => op.reject?.(error);
  try {
    const plan = await planCommit(s, op, fail);
    if (plan === void 0) return;
    const keyPackages = await Promise.all(plan.add.map(async (a) => (await checkClaimed(a.user, { device: a.device, keyPackage: a.keyPackage })).keyPackage));
    const prepared = await plan.group.prepareCommit(keyPackages, plan.removeLeaves);
    const wire = wireOf(s.room, prepared, plan.add);
    if (wire instanceof E2eError) return fail(wire);
    const pending = { op, clientMsgId: wire.clientMsgId, prepared, welcome: wire.welcome, ...MlsGroup.diff(plan.members, MlsGroup.membersOf(prepared.state)) };
    s.group = plan.group;
    s.pending = pending;
    plan.group.holdSecrets = true;
    await s.persist();
    transmit(pending, wire.body);
  } catch (error) {
    fail(error instanceof Error ? error : new Error(String(error)));
  }
}
async function planCommit(s, op, fail) {
  const { intent } = op;
  if (intent.kind === "create" && s.group?.active === true) {
    fail(new E2eError("group_exists", `this device already has the group of ${s.room}`, { room: s.room }));
    return void 0;
  }
  const group = intent.kind === "create" ? await MlsGroup.create(s.host.device) : s.group;
  if (intent.kind === "create") s.processed = Math.max(s.processed, s.host.lastSeq(s.room) ?? 0);
  if (group === void 0 || !group.active) {
    fail(new E2eError("not_member", `this device is not a member of ${s.room}'s group`, { room: s.room }));
    return void 0;
  }
  const members = group.members();
  const have = new Set(members.map((m) => m.identity));
  const add3 = intent.add.filter((a) => !have.has(identityOf(a)));
  const me = s.host.device.identity;
  const removeLeaves2 = members.filter((m) => intent.remove.includes(m.user) && m.identity !== me).map((m) => m.leaf);
  if (intent.kind !== "create" && intent.kind !== "update" && add3.length === 0 && removeLeaves2.length === 0) {
    op.resolve?.({ room: s.room, seq: void 0, epoch: group.epoch, added: [], removed: [], conflicts: op.conflicts });
    return void 0;
  }
  return { group, members, add: add3, removeLeaves: removeLeaves2 };
}
function wireOf(room, prepared, add3) {
  const body = toBase64(prepared.commit);
  if (body.length > MAX_BODY) return new E2eError("too_large", `the Commit is ${body.length} characters of base64; a body takes at most ${MAX_BODY}`, { room });
  let welcome;
  if (prepared.welcome !== void 0) {
    welcome = { message: toBase64(prepared.welcome), to: add3.map((a) => ({ user: a.user, device: a.device })) };
    if (welcome.message.length > MAX_WELCOME || welcome.to.length > MAX_WELCOME_TO) {
      return new E2eError("too_large", `the Welcome is ${welcome.message.length} characters of base64 for ${welcome.to.length} devices; the server takes ${MAX_WELCOME} for ${MAX_WELCOME_TO}`, { room });
    }
  }
  const clientMsgId = newClientMsgId();
  const frame = JSON.stringify({ action: "send", room, body, clientMsgId, welcome }).length;
  if (frame > MAX_FRAME) {
    return new E2eError("too_large", `the Commit and its Welcome make a ${frame}-byte frame; a client frame takes at most ${MAX_FRAME} bytes (API Gateway)`, { room });
  }
  return { body, welcome, clientMsgId };
}
async function sendNow(s, item) {
  const group = s.group;
  if (group === void 0 || !group.active) {
    item.reject(new E2eError("not_member", `this device is not a member of ${s.room}'s group`, { room: s.room }));
    return;
  }
  try {
    const body = toBase64(await group.encrypt(item.text));
    if (body.length > MAX_BODY) throw new E2eError("too_large", `the message is ${body.length} characters of base64 once encrypted; a body takes at most ${MAX_BODY}`, { room: s.room });
    s.sent.set(item.clientMsgId, item.text);
    await s.persist();
    s.host.send(s.room, body, item.clientMsgId, void 0).then(item.resolve, (error) => {
      s.sent.delete(item.clientMsgId);
      item.reject(error instanceof Error ? error : new Error(String(error)));
    });
  } catch (error) {
    s.dirty = true;
    item.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

// ../typescript/src/e2e/safety.ts
var LABEL = "Starling safety number v1";
async function safetyNumber(identity, signaturePublicKey) {
  const id = utf8(identity);
  const label = utf8(LABEL);
  const input = new Uint8Array(label.length + 2 + id.length + 2 + signaturePublicKey.length);
  let at = 0;
  const put = (bytes, withLength) => {
    if (withLength) {
      input[at++] = bytes.length >> 8 & 255;
      input[at++] = bytes.length & 255;
    }
    input.set(bytes, at);
    at += bytes.length;
  };
  put(label, false);
  put(id, true);
  put(signaturePublicKey, true);
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-512", input));
  const groups = [];
  for (let i = 0; i < 12; i++) {
    let n = 0;
    for (let j = 0; j < 5; j++) n = n * 256 + (digest[5 * i + j] ?? 0);
    groups.push(String(n % 1e5).padStart(5, "0"));
  }
  return groups.join(" ");
}

// ../typescript/src/e2e/state.ts
var RoomState = class {
  room;
  host;
  events = new Emitter();
  group;
  /** Every seq up to this one was processed. */
  processed;
  pending;
  /** This device's application messages not yet seen stored: `clientMsgId` → text. */
  sent = /* @__PURE__ */ new Map();
  work = [];
  /** The state changed since it was last kept. */
  dirty = false;
  /** A Commit restored from storage, to send again once the room is joined. */
  resumable;
  constructor(room, host, record) {
    this.room = room;
    this.host = host;
    this.processed = record?.processed ?? 0;
    if (record?.state !== void 0) this.group = MlsGroup.decode(fromBase64(record.state));
    for (const [id, text] of Object.entries(record?.sent ?? {})) this.sent.set(id, text);
    const stored = record?.pending;
    if (stored !== void 0 && this.group !== void 0) {
      const state = decodeState(fromBase64(stored.state));
      const prepared = { commit: fromBase64(stored.commit), welcome: void 0, epoch: stored.epoch, state, consumed: [] };
      const diff = MlsGroup.diff(this.group.members(), MlsGroup.membersOf(state));
      this.pending = { op: { intent: stored.intent, conflicts: stored.conflicts }, clientMsgId: stored.clientMsgId, prepared, welcome: stored.welcome, ...diff };
      this.group.holdSecrets = true;
      this.resumable = this.pending;
    }
  }
  /** Forgets the waiting Commit (refused, or the room was joined anew) and rejects its operation. */
  dropPending(error) {
    const pending = this.pending;
    if (pending === void 0) return;
    this.pending = void 0;
    if (this.group !== void 0) this.group.holdSecrets = false;
    pending.op.reject?.(error);
  }
  /** Rejects every queued message and Commit (this device left the group). */
  rejectWork(error) {
    for (const item of this.work.splice(0)) {
      if (item.kind === "send") item.reject(error);
      else item.op.reject?.(error);
    }
  }
  /** Keeps the room's record in the device's storage; the state stays dirty when that fails. */
  async persist() {
    this.dirty = false;
    const record = this.#record();
    try {
      await this.host.device.save(recordKey(this.room), JSON.stringify(record));
    } catch (error) {
      this.dirty = true;
      throw error;
    }
  }
  #record() {
    const record = { v: 1, processed: this.processed, sent: Object.fromEntries(this.sent) };
    const group = this.group;
    if (group !== void 0) record.state = toBase64(group.encode());
    const p = this.pending;
    if (p !== void 0) {
      record.pending = { clientMsgId: p.clientMsgId, epoch: p.prepared.epoch, commit: toBase64(p.prepared.commit), state: toBase64(MlsGroup.encodeState(p.prepared.state)), intent: p.op.intent, conflicts: p.op.conflicts };
      if (p.welcome !== void 0) record.pending.welcome = p.welcome;
    }
    return record;
  }
};

// ../typescript/src/e2e/room.ts
var E2eRoom = class {
  /** The room id. */
  room;
  #s;
  #tail = Promise.resolve();
  #incoming = 0;
  /** @internal */
  constructor(room, host, record) {
    this.room = room;
    this.#s = new RoomState(room, host, record);
  }
  /** Whether this device is a member of the room's group (it created it or joined it, and was not removed). */
  get isMember() {
    const s = this.#s;
    return s.group?.active === true && !(s.group.epoch === 0 && s.pending !== void 0);
  }
  /** The group's epoch (`undefined` while this device has no group). */
  get epoch() {
    return this.#s.group?.epoch;
  }
  /** The last seq processed. */
  get processed() {
    return this.#s.processed;
  }
  /** Whether a Commit of this device waits to be stored. */
  get committing() {
    return this.#s.pending !== void 0;
  }
  /** The group's members (this device included), in leaf order; empty without a group. */
  members() {
    return this.#s.group?.members() ?? [];
  }
  /**
   * The safety number of a member (see {@link safetyNumber}), to compare out of band with what
   * that member's own device shows for itself. `undefined` when no such device is a member.
   */
  async safetyNumber(user, device) {
    const member = this.#s.group?.member(identityOf({ user, device }));
    return member === void 0 ? void 0 : safetyNumber(member.identity, member.signaturePublicKey);
  }
  /** Calls `listener` on every `event`; returns a function that removes it. */
  on(event, listener) {
    return this.#s.events.on(event, listener);
  }
  /** Calls `listener` on the next `event` only. */
  once(event, listener) {
    return this.#s.events.once(event, listener);
  }
  /** Removes `listener`. */
  off(event, listener) {
    this.#s.events.off(event, listener);
  }
  /**
   * Makes the room's group, with this device as its first member, and commits it (epoch 0 → 1),
   * adding the devices of `users` in the same Commit. Resolves once the server stored it.
   * Rejects with `group_exists` when the room already has a group (another device's Commit was
   * stored first): ask a member to add this user.
   */
  async create(users = []) {
    const add3 = await claim(this.#s, users, false);
    return this.#commit("create", add3, []);
  }
  /**
   * Adds every device of `users` that has a valid KeyPackage: claims them (`keys.claim`), checks
   * each (credential `{user}/{device}` as claimed, ciphersuite 1, signature, lifetime) and sends
   * one Commit with the Welcome for them. Devices already in the group are skipped. Rejects with
   * `no_key_packages` when no device of any of them can be added.
   */
  async add(users) {
    const add3 = await claim(this.#s, typeof users === "string" ? [users] : users, true);
    return this.#commit("add", add3, []);
  }
  /** Removes every device of `users` (this device excepted: a member cannot commit its own removal). */
  remove(users) {
    return this.#commit("remove", [], typeof users === "string" ? [users] : users);
  }
  /** Commits an update of this device's own leaf and path (fresh keys for the group; also after joining with a last-resort KeyPackage). */
  update() {
    return this.#commit("update", [], []);
  }
  /**
   * Encrypts `text` as an MLS application message and sends it (its base64 is the `send` body).
   * Resolves on `accepted`; the `message` event with `own: true` confirms it was stored. Rejects
   * with `not_member` without a group, and `too_large` when the ciphertext is over the body limit.
   */
  send(text, options = {}) {
    const clientMsgId = options.clientMsgId ?? newClientMsgId();
    const sent = new Promise((resolve, reject) => this.#s.work.push({ kind: "send", text, clientMsgId, resolve, reject }));
    this.#kick();
    return sent;
  }
  /** Resolves once every message and operation queued so far was handled. */
  async idle() {
    for (; ; ) {
      const tail = this.#tail;
      await tail;
      if (tail === this.#tail) return;
    }
  }
  // --- from the client ------------------------------------------------------------------
  /** A message of the room, in seq order (the client's `message` events). @internal */
  offer(message) {
    this.#incoming += 1;
    void this.#run(async () => {
      try {
        await take(this.#s, message);
      } finally {
        this.#incoming -= 1;
      }
      if (this.#incoming === 0) await this.#settle();
    });
  }
  /** Whether `clientMsgId` is this room's waiting Commit. @internal */
  owns(clientMsgId) {
    return this.#s.pending?.clientMsgId === clientMsgId;
  }
  /**
   * A `conflict` for this room's waiting Commit: another Commit was stored in its epoch. That
   * Commit arrives as a message (or did already), and processing it drops this one and makes it
   * again. A new group, though, lost to a group made before: that Commit may have been stored
   * long ago, so the group is dropped now. @internal
   */
  conflicted(clientMsgId, epoch) {
    const s = this.#s;
    const pending = s.pending;
    if (pending?.clientMsgId !== clientMsgId) return;
    s.events.emit("conflict", { room: this.room, clientMsgId, epoch: pending.prepared.epoch });
    if (pending.op.intent.kind !== "create" || epoch === 0) return;
    void this.#run(async () => {
      if (s.pending !== pending) return;
      s.dropPending(new E2eError("group_exists", `${this.room} already has a group (epoch ${String(epoch)}); ask a member to add you`, { room: this.room }));
      s.group = void 0;
      s.dirty = true;
      await this.#settle();
    });
  }
  /** Joins from a Welcome of the Commit at `seq`: the room is read from after it. @internal */
  adopt(group, seq) {
    const s = this.#s;
    return this.#run(async () => {
      const current = s.group;
      if (current?.active === true && sameBytes(current.groupId, group.groupId) && current.epoch >= group.epoch) return false;
      s.dropPending(new E2eError("not_member", "this device joined the room again from a Welcome", { room: this.room }));
      s.group = group;
      s.processed = seq;
      s.sent.clear();
      s.dirty = true;
      await catchUp(s);
      await this.#settle();
      return true;
    });
  }
  /** Once joined on the client after a restart: sends the waiting Commit again (once). @internal */
  resume() {
    const s = this.#s;
    const pending = s.resumable;
    s.resumable = void 0;
    if (pending !== void 0 && pending === s.pending) this.#transmit(pending, toBase64(pending.prepared.commit));
  }
  // --- the room's work, one task at a time -----------------------------------------------
  /** Queues a Commit: `add` the devices of these packages, `remove` every device of these users. */
  #commit(kind, add3, remove) {
    const intent = intentOf(kind, add3, remove);
    const done = new Promise((resolve, reject) => this.#s.work.push({ kind: "op", op: { intent, conflicts: 0, resolve, reject } }));
    this.#kick();
    return done;
  }
  /** Runs the queued work, while no Commit of this device waits: sends go out, the next Commit is made. */
  async #pump() {
    const s = this.#s;
    while (s.pending === void 0) {
      const item = s.work.shift();
      if (item === void 0) return;
      if (item.kind === "send") await sendNow(s, item);
      else await startCommit(s, item.op, (pending, body) => this.#transmit(pending, body));
    }
  }
  /** Sends the waiting Commit; when the server refuses it, it is dropped (and a new group with it). */
  #transmit(pending, body) {
    const s = this.#s;
    s.host.send(this.room, body, pending.clientMsgId, pending.welcome).catch((error) => {
      void this.#run(async () => {
        if (s.pending !== pending) return;
        s.dropPending(error instanceof Error ? error : new Error(String(error)));
        if (s.group?.epoch === 0) s.group = void 0;
        s.dirty = true;
        await this.#settle();
      });
    });
  }
  /** Keeps the state if it changed, then runs the queued work. */
  async #settle() {
    if (this.#s.dirty) await this.#s.persist();
    await this.#pump();
  }
  /** Runs the queued work now, unless messages wait to be processed (they may change the epoch). */
  #kick() {
    void this.#run(async () => {
      if (this.#incoming === 0) await this.#settle();
    });
  }
  /** Runs `task` after every task before it: the room's messages and operations never interleave. */
  #run(task) {
    const result = this.#tail.then(task);
    this.#tail = result.catch((error) => {
      this.#s.events.emit("error", error instanceof E2eError ? error : new E2eError("undecryptable", `${this.room}: ${String(error)}`, { room: this.room, cause: error }));
    });
    return result;
  }
};

// ../typescript/src/e2e/client.ts
var E2E_ROOM = /^e2e:[A-Za-z0-9_.:-]{1,60}$/;
var E2eClient = class {
  /** The client the rooms live on. */
  client;
  /** This device. */
  device;
  /** The device's KeyPackages in the server's directory. */
  keys;
  #internals;
  #options;
  #events = new Emitter();
  #rooms = /* @__PURE__ */ new Map();
  #detach = [];
  #accepting = Promise.resolve();
  #closed = false;
  /**
   * Starts end-to-end encryption for `device` on `client` (whose user must be the device's).
   * Nothing is sent until the client is connected.
   */
  constructor(client, device, options = {}) {
    this.client = client;
    this.device = device;
    this.#internals = clientInternals(client);
    this.#options = { acceptWelcomes: options.acceptWelcomes ?? true, keyPackages: options.keyPackages ?? {} };
    this.keys = new KeyPackages(device, (request, matches) => this.#internals.request(request, matches));
    this.#detach.push(
      this.#internals.tap((frame) => this.#tap(frame)),
      client.on("message", (m) => this.#opened(m.room)?.offer(m)),
      client.on("state", ({ state }) => {
        if (state === "connected") this.#connected();
      })
    );
    if (client.state === "connected") queueMicrotask(() => this.#connected());
  }
  /** Calls `listener` on every `event`; returns a function that removes it. */
  on(event, listener) {
    return this.#events.on(event, listener);
  }
  /** Calls `listener` on the next `event` only. */
  once(event, listener) {
    return this.#events.once(event, listener);
  }
  /** Removes `listener`. */
  off(event, listener) {
    this.#events.off(event, listener);
  }
  /**
   * The encrypted room `room` (an `e2e:` room id): its group state is loaded from the device's
   * storage, and the room is joined on the client from the last seq the device processed.
   * Resolves once joined. Without a group yet, {@link E2eRoom.create} makes one, or a Welcome
   * from a member joins it.
   */
  async room(room) {
    const e2e = await this.#open(room);
    const joined = this.client.join(room, e2e.processed > 0 ? { since: e2e.processed } : {});
    e2e.resume();
    await joined;
    return e2e;
  }
  /**
   * Fetches the device's welcome inbox (`welcomes`): Welcomes kept for it while it was offline.
   * With `acceptWelcomes` (the default) each is joined and acknowledged; the rest are returned.
   */
  async welcomes() {
    const seen = [];
    for (let page = 0; page < 100; page++) {
      const frame = await this.#internals.request({ action: "welcomes", device: this.device.id }, (f) => f.type === "welcomes" && f.device === this.device.id);
      const list = frame.welcomes.map((w) => ({ ...w, device: this.device.id }));
      seen.push(...list);
      if (!this.#options.acceptWelcomes || list.length === 0) break;
      for (const w of list) await this.accept(w).catch(() => void 0);
      if (frame.hasMore !== true) break;
    }
    return seen;
  }
  /**
   * Joins the group of a Welcome for this device: finds which of the device's KeyPackages it was
   * made for, joins, keeps the group state, joins the room from the Commit's seq, and
   * acknowledges the Welcome (`welcomes.ack`). Welcomes are used one at a time. A Welcome that
   * can never be used (for no KeyPackage of this device, or invalid) is acknowledged too, and
   * rejects with {@link E2eError} `welcome`.
   */
  accept(welcome) {
    const run = this.#accepting.then(() => this.#accept(welcome));
    this.#accepting = run.catch(() => void 0);
    return run;
  }
  /** Stops listening to the client (the rooms stop receiving messages). The client stays open. */
  close() {
    this.#closed = true;
    for (const detach of this.#detach.splice(0)) detach();
  }
  async #accept(w) {
    if (w.device !== this.device.id) throw new E2eError("welcome", `the Welcome is for device ${w.device}, not ${this.device.id}`, { room: w.room });
    if (!E2E_ROOM.test(w.room)) throw new E2eError("welcome", `${w.room} is not an encrypted room`, { room: w.room });
    const unusable = async (why, cause) => {
      await this.#ack(w);
      throw new E2eError("welcome", `the Welcome for ${w.room} (seq ${w.seq}, from ${w.from}) ${why}`, { room: w.room, seq: w.seq, cause });
    };
    const room = await this.#open(w.room);
    if (room.isMember && room.processed >= w.seq) {
      await this.#ack(w);
      return room;
    }
    let message;
    try {
      message = decodeMessage(fromBase64(w.welcome));
    } catch (error) {
      return unusable("is not an MLS message", error);
    }
    if (message.wireformat !== "mls_welcome") return unusable(`is a ${message.wireformat}, not a Welcome`);
    const own = await this.device.findKeyPackage(message.welcome.secrets.map((s) => s.newMember));
    if (own === void 0) return unusable("was made for none of this device's KeyPackages");
    let group;
    try {
      group = await MlsGroup.join(message.welcome, own);
    } catch (error) {
      return unusable(`cannot be joined: ${String(error)}`, error);
    }
    const joined = await room.adopt(group, w.seq);
    await this.device.forgetKeyPackage(own.ref);
    const subscribed = this.client.join(w.room, { since: w.seq });
    room.resume();
    await subscribed;
    await this.#ack(w);
    if (joined) this.#events.emit("joined", { room: w.room, seq: w.seq, from: w.from, epoch: group.epoch });
    if (joined && own.lastResort) room.update().catch((e) => this.#error(e));
    this.#replenish();
    return room;
  }
  async #ack(w) {
    try {
      await this.#internals.request({ action: "welcomes.ack", device: this.device.id, room: w.room, seq: w.seq }, (f) => f.type === "welcomes" && f.device === this.device.id);
    } catch (error) {
      if (!(error instanceof StarlingError && error.code === "unknown_action")) this.#error(error);
    }
  }
  async #open(room) {
    if (!E2E_ROOM.test(room)) throw new RangeError(`${room} is not an encrypted room: its id must start with e2e:`);
    const known = this.#rooms.get(room);
    if (known !== void 0) return known;
    const opening = (async () => {
      const record = parseRecord(await this.device.load(recordKey(room)));
      const e2e = new E2eRoom(room, this.#host, record);
      e2e.on("message", (m) => this.#events.emit("message", m));
      e2e.on("members", (c) => this.#events.emit("members", c));
      e2e.on("removed", (c) => this.#events.emit("removed", c));
      e2e.on("conflict", (c) => this.#events.emit("conflict", c));
      e2e.on("error", (e) => this.#error(e));
      this.#rooms.set(room, e2e);
      return e2e;
    })();
    this.#rooms.set(room, opening);
    opening.catch(() => this.#rooms.delete(room));
    return opening;
  }
  #opened(room) {
    const known = this.#rooms.get(room);
    return known instanceof E2eRoom ? known : void 0;
  }
  /** A frame, before the client handles it: `welcome`s for this device, and `conflict`s of this device's Commits. */
  #tap(frame) {
    if (frame.type === "welcome") {
      if (frame.device !== this.device.id) return true;
      const w = { room: String(frame.room), seq: Number(frame.seq), from: String(frame.from), device: String(frame.device), welcome: String(frame.welcome) };
      this.#events.emit("welcome", w);
      if (this.#options.acceptWelcomes) this.accept(w).catch((e) => this.#error(e));
      return true;
    }
    if (frame.type === "error" && frame.code === "conflict" && typeof frame.clientMsgId === "string") {
      const id = frame.clientMsgId;
      for (const room of this.#rooms.values()) {
        if (room instanceof E2eRoom && room.owns(id)) {
          room.conflicted(id, typeof frame.epoch === "number" ? frame.epoch : void 0);
          return true;
        }
      }
    }
    return false;
  }
  #connected() {
    if (this.#closed) return;
    if (this.client.user !== void 0 && this.client.user !== this.device.user) {
      this.#error(new E2eError("device_mismatch", `the client is connected as ${this.client.user}, the device belongs to ${this.device.user}`));
      return;
    }
    if (this.#options.acceptWelcomes) {
      this.welcomes().catch((error) => {
        if (!(error instanceof StarlingError && (error.code === "unknown_action" || error.code === "closed"))) this.#error(error);
      });
    }
    this.#replenish();
  }
  #replenish() {
    const options = this.#options.keyPackages;
    if (options === false || this.#closed) return;
    this.keys.replenish(options).catch((error) => {
      if (!(error instanceof StarlingError && error.code === "closed")) this.#error(error);
    });
  }
  #error(error) {
    if (this.#events.listenerCount("error") > 0) this.#events.emit("error", error instanceof Error ? error : new Error(String(error)));
  }
  get #host() {
    return {
      device: this.device,
      keys: this.keys,
      send: (room, body, clientMsgId, welcome) => this.#internals.send(room, body, clientMsgId, welcome === void 0 ? void 0 : { welcome }),
      history: (room, before, limit) => this.client.history(room, { before, limit }),
      lastSeq: (room) => this.client.lastSeq(room)
    };
  }
};

// ../typescript/src/e2e/device.ts
var IDENTITY_KEY = "device";
var KEY_PACKAGES_KEY = "keyPackages";
var E2eDevice = class _E2eDevice {
  /** The user id (the token's `sub`) this device belongs to. */
  user;
  /** The device id. */
  id;
  /** The device's Ed25519 signature public key, as in its KeyPackages and leaves. */
  signaturePublicKey;
  /** Where the device keeps its keys and groups. */
  storage;
  #signaturePrivateKey;
  #writes = Promise.resolve();
  constructor(storage, identity) {
    this.storage = storage;
    this.user = identity.user;
    this.id = identity.device;
    this.signaturePublicKey = fromBase64(identity.signaturePublicKey);
    this.#signaturePrivateKey = fromBase64(identity.signaturePrivateKey);
  }
  /**
   * Opens the device kept in `storage` for `user`, or makes a new one there (a fresh signature
   * key pair and device id). Rejects with {@link E2eError} `device_mismatch` when the storage
   * holds another user's device, or another device id than `options.device`.
   */
  static async open(storage, user, options = {}) {
    if (options.device !== void 0 && !DEVICE_ID_PATTERN.test(options.device)) {
      throw new RangeError(`${JSON.stringify(options.device)} is not a device id: 1–64 of A-Z a-z 0-9 _ . -`);
    }
    const raw = await storage.get(IDENTITY_KEY);
    if (raw !== void 0 && raw !== null) {
      const stored = JSON.parse(raw);
      if (stored.user !== user) throw new E2eError("device_mismatch", `this storage holds a device of ${stored.user}, not of ${user}`);
      if (options.device !== void 0 && options.device !== stored.device) {
        throw new E2eError("device_mismatch", `this storage holds device ${stored.device}, not ${options.device}`);
      }
      return new _E2eDevice(storage, stored);
    }
    const cs = await cipherSuite();
    const keys = await cs.signature.keygen();
    const identity = {
      v: 1,
      user,
      device: options.device ?? toHex(randomBytes(8)),
      signaturePublicKey: toBase64(keys.publicKey),
      signaturePrivateKey: toBase64(keys.signKey)
    };
    await storage.set(IDENTITY_KEY, JSON.stringify(identity));
    return new _E2eDevice(storage, identity);
  }
  /** The credential identity, `{user}/{device}`. */
  get identity() {
    return identityOf({ user: this.user, device: this.id });
  }
  /** This device's safety number (see {@link safetyNumber}), as others see it for this device. */
  safetyNumber() {
    return safetyNumber(this.identity, this.signaturePublicKey);
  }
  /** The signature key pair, for ts-mls. @internal */
  signatureKeyPair() {
    return { signKey: this.#signaturePrivateKey, publicKey: this.signaturePublicKey };
  }
  /**
   * Makes `count` one-time KeyPackages (and a last-resort one when `lastResort`), keeps their
   * private keys in storage before returning them, and returns them as base64 KeyPackage
   * messages ready for `keys.publish`. @internal
   */
  async createKeyPackages(count, lastResort) {
    const cs = await cipherSuite();
    const made = [];
    for (let i = 0; i < count + (lastResort ? 1 : 0); i++) {
      const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
        credentialOf({ user: this.user, device: this.id }),
        defaultCapabilities(),
        defaultLifetime,
        [],
        this.signatureKeyPair(),
        cs
      );
      const entry = {
        kp: toBase64(encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: publicPackage })),
        init: toBase64(privatePackage.initPrivateKey),
        hpke: toBase64(privatePackage.hpkePrivateKey),
        at: Date.now()
      };
      if (lastResort && i === count) entry.lastResort = true;
      made.push([toHex(await makeKeyPackageRef(publicPackage, cs.hash)), entry]);
    }
    await this.#update(KEY_PACKAGES_KEY, (all) => {
      if (lastResort) {
        for (const [ref, e] of Object.entries(all)) if (e.lastResort === true) delete all[ref];
      }
      for (const [ref, entry] of made) all[ref] = entry;
      return all;
    });
    const last = lastResort ? made[made.length - 1]?.[1].kp : void 0;
    const oneTime = made.slice(0, count).map(([, e]) => e.kp);
    return last === void 0 ? { oneTime } : { oneTime, lastResort: last };
  }
  /** The first of `refs` (KeyPackage references, RFC 9420 §5.2) that is one of this device's KeyPackages. @internal */
  async findKeyPackage(refs) {
    const all = await this.#read(KEY_PACKAGES_KEY, {});
    for (const ref of refs.map(toHex)) {
      const entry = all[ref];
      if (entry === void 0) continue;
      const decoded = decodeMlsMessage(fromBase64(entry.kp), 0)?.[0];
      if (decoded?.wireformat !== "mls_key_package") continue;
      return {
        ref,
        publicPackage: decoded.keyPackage,
        privatePackage: { initPrivateKey: fromBase64(entry.init), hpkePrivateKey: fromBase64(entry.hpke), signaturePrivateKey: this.#signaturePrivateKey },
        lastResort: entry.lastResort === true
      };
    }
    return void 0;
  }
  /** Forgets a one-time KeyPackage's private keys once a Welcome used it. @internal */
  async forgetKeyPackage(ref) {
    await this.#update(KEY_PACKAGES_KEY, (all) => {
      if (all[ref]?.lastResort !== true) delete all[ref];
      return all;
    });
  }
  /** How many KeyPackages' private keys the device holds (one-time and last-resort). */
  async heldKeyPackages() {
    return Object.keys(await this.#read(KEY_PACKAGES_KEY, {})).length;
  }
  /** The stored text under `key`. @internal */
  async load(key) {
    await this.#writes;
    return await this.storage.get(key) ?? void 0;
  }
  /** Stores `value` under `key` (or removes it for `undefined`), after the writes before it. @internal */
  save(key, value) {
    return this.#enqueue(async () => {
      if (value === void 0) await this.storage.delete(key);
      else await this.storage.set(key, value);
    });
  }
  async #read(key, empty) {
    const raw = await this.load(key);
    return raw === void 0 ? empty : JSON.parse(raw);
  }
  #update(key, change) {
    return this.#enqueue(async () => {
      const raw = await this.storage.get(key);
      const value = raw === void 0 || raw === null ? {} : JSON.parse(raw);
      await this.storage.set(key, JSON.stringify(change(value)));
    });
  }
  /** Runs storage writes one after another, so a read-modify-write never loses another's change. */
  #enqueue(write) {
    const done = this.#writes.then(write);
    this.#writes = done.catch(() => void 0);
    return done;
  }
};

// ../typescript/src/e2e/storage.ts
var LocalStorageDeviceStorage = class {
  #storage;
  #prefix;
  /**
   * @param prefix key prefix, e.g. `starling:e2e:alice:`.
   * @param storage default `globalThis.localStorage`.
   */
  constructor(prefix, storage) {
    const found = storage ?? globalThis.localStorage;
    if (found === void 0) throw new Error("LocalStorageDeviceStorage: no localStorage here; pass a storage");
    this.#storage = found;
    this.#prefix = prefix;
  }
  get(key) {
    return this.#storage.getItem(this.#prefix + key);
  }
  set(key, value) {
    this.#storage.setItem(this.#prefix + key, value);
  }
  delete(key) {
    this.#storage.removeItem(this.#prefix + key);
  }
};

// src/dom.ts
function byId(id) {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the page has no #${id}`);
  return el;
}
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === void 0 || value === false) continue;
    el.setAttribute(name, value === true ? "" : String(value));
  }
  el.append(...children);
  return el;
}
function clock(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
function dayLabel(iso, now = /* @__PURE__ */ new Date()) {
  const day = new Date(iso);
  const startOf = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((startOf(now) - startOf(day)) / 864e5);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  return day.toLocaleDateString([], { weekday: "long", day: "numeric", month: "long", year: "numeric" });
}
function dayKey(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}
function hue(user) {
  let hash = 0;
  for (const c of user) hash = hash * 31 + c.charCodeAt(0) >>> 0;
  return hash % 360;
}
function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}
function errorText(error) {
  return error instanceof Error ? error.message : String(error);
}

// src/rooms.ts
var DM_USER = /^[A-Za-z0-9_.-]+$/;
function dmRoom(me, peer) {
  if (me === peer) return { error: "a DM needs another user" };
  if (!DM_USER.test(me) || !DM_USER.test(peer)) {
    return { error: "DMs need user ids made of A-Z a-z 0-9 _ . - only (room ids take no : @ + =)" };
  }
  const [a, b] = me < peer ? [me, peer] : [peer, me];
  const room = `dm:${a}:${b}`;
  return room.length <= 64 ? { room } : { error: "the two user ids are too long for a DM room (64 characters in all)" };
}
function dmPeer(room, me) {
  const parts = room.split(":");
  if (parts.length !== 3 || parts[0] !== "dm") return void 0;
  const [, a, b] = parts;
  if (a === me) return b;
  if (b === me) return a;
  return void 0;
}
function isEncrypted(room) {
  return room.startsWith("e2e:");
}
var RoomModel = class {
  id;
  /** Keyed by seq: a message delivered twice (history and live) is shown once. */
  messages = /* @__PURE__ */ new Map();
  pending = /* @__PURE__ */ new Map();
  members = /* @__PURE__ */ new Set();
  unread = 0;
  hasOlder = false;
  joined = false;
  /** Its newest history page is in: what is shown is then complete up to the newest message. */
  loaded = false;
  /** A DM joined in the background, shown once it has a message (see ChatApp.discoverDms). */
  hidden = false;
  /** For an encrypted room, once known. */
  e2e;
  constructor(id) {
    this.id = id;
  }
  get encrypted() {
    return isEncrypted(this.id);
  }
  /** Whether `m` was new. */
  add(m) {
    if (this.messages.has(m.seq)) return false;
    this.messages.set(m.seq, m);
    return true;
  }
  sorted() {
    return [...this.messages.values()].sort((x, y) => x.seq - y.seq);
  }
  get maxSeq() {
    let max = 0;
    for (const seq of this.messages.keys()) max = Math.max(max, seq);
    return max;
  }
  get minSeq() {
    let min;
    for (const seq of this.messages.keys()) if (min === void 0 || seq < min) min = seq;
    return min;
  }
};
var SavedRooms = class {
  #key;
  constructor(user) {
    this.#key = `starling-web:${user}:`;
  }
  list() {
    try {
      const rooms = JSON.parse(localStorage.getItem(`${this.#key}rooms`) ?? "[]");
      return Array.isArray(rooms) ? rooms.filter((r) => typeof r === "string") : [];
    } catch {
      return [];
    }
  }
  add(room) {
    const rooms = this.list();
    if (!rooms.includes(room)) localStorage.setItem(`${this.#key}rooms`, JSON.stringify([...rooms, room]));
  }
  remove(room) {
    localStorage.setItem(`${this.#key}rooms`, JSON.stringify(this.list().filter((r) => r !== room)));
  }
  get current() {
    return localStorage.getItem(`${this.#key}current`);
  }
  set current(room) {
    localStorage.setItem(`${this.#key}current`, room);
  }
  /** The SDK's seq store prefix for this user, so users sharing a browser do not share seqs. */
  get seqPrefix() {
    return `${this.#key}seq:`;
  }
};
var TRANSCRIPT_MAX = 200;
var Transcript = class {
  #key;
  constructor(user) {
    this.#key = `starling-web:${user}:transcript:`;
  }
  load(room) {
    try {
      const list = JSON.parse(localStorage.getItem(this.#key + room) ?? "[]");
      return Array.isArray(list) ? list.filter((m) => typeof m.seq === "number" && typeof m.body === "string") : [];
    } catch {
      return [];
    }
  }
  add(m) {
    const list = this.load(m.room).filter((old) => old.seq !== m.seq);
    list.push(m);
    list.sort((a, b) => a.seq - b.seq);
    try {
      localStorage.setItem(this.#key + m.room, JSON.stringify(list.slice(-TRANSCRIPT_MAX)));
    } catch (error) {
      console.warn(`transcript of ${m.room} not kept: ${String(error)}`);
    }
  }
};

// src/e2e.ts
var MAX_SEEN = 500;
var EncryptedRooms = class {
  /** The E2eClient once the device is open; rejects where the browser cannot do MLS (no WebCrypto). */
  ready;
  #host;
  #transcript;
  #rooms = /* @__PURE__ */ new Map();
  #creating = /* @__PURE__ */ new Set();
  #seen = /* @__PURE__ */ new Map();
  constructor(client, me, host) {
    this.#host = host;
    this.#transcript = new Transcript(me);
    this.ready = this.#start(client, me);
    this.ready.catch(() => void 0);
    client.on("message", (m) => {
      if (!isEncrypted(m.room)) return;
      this.#seen.set(`${m.room}#${m.seq}`, { id: m.id, sentAt: m.sentAt, from: m.from });
      const oldest = this.#seen.keys().next().value;
      if (this.#seen.size > MAX_SEEN && oldest !== void 0) this.#seen.delete(oldest);
    });
  }
  async #start(client, me) {
    if (globalThis.crypto?.subtle === void 0) {
      throw new Error("encrypted rooms need WebCrypto, which browsers give only to https pages and to localhost");
    }
    const device = await E2eDevice.open(new LocalStorageDeviceStorage(`starling-web:${me}:e2e:`), me);
    const e2e = new E2eClient(client, device);
    e2e.on("message", (m) => this.#message(m));
    e2e.on("members", (c) => this.#members(c));
    e2e.on("removed", (c) => this.#host.toast(`This device was removed from ${c.room}'s encrypted group by ${c.from}`));
    e2e.on("joined", ({ room, from }) => {
      this.#host.toast(`${from} added you to the encrypted room ${room}`);
      this.#host.joined(room);
      this.#host.changed(room);
    });
    e2e.on("error", (e) => this.#error(e));
    return e2e;
  }
  /**
   * Opens `room` on the device (joined from the last seq it read) and, when the room is empty,
   * makes its group with this device as the first member. Resolves with what this browser
   * decrypted there before.
   */
  async open(room) {
    const e2e = await this.ready;
    const opened = await e2e.room(room);
    this.#rooms.set(room, opened);
    if (!opened.isMember && !opened.committing && (await e2e.client.join(room)).lastSeq === 0) void this.#create(opened);
    return this.#transcript.load(room);
  }
  async #create(room) {
    this.#creating.add(room.room);
    this.#host.changed(room.room);
    try {
      await room.create();
    } catch (error) {
      const lost = error instanceof E2eError && error.code === "group_exists";
      this.#host.toast(lost ? `${room.room} already has a group: ask a member to add you` : `Could not make ${room.room}'s group: ${errorText(error)}`);
    } finally {
      this.#creating.delete(room.room);
      this.#host.changed(room.room);
    }
  }
  /** Encrypts and sends `text` (queued while offline); resolves once the server accepted it. */
  async send(room, text, clientMsgId) {
    return this.#room(room).send(text, { clientMsgId });
  }
  /** Adds every device of `user` that published a KeyPackage; resolves once the Commit is stored. */
  async add(room, user) {
    const result = await this.#room(room).add(user);
    if (result.added.length === 0) this.#host.toast(`${user} is already in ${room}'s group`);
  }
  /** How this device stands in `room`'s group; `undefined` until the room is open. */
  status(room) {
    const opened = this.#rooms.get(room);
    if (opened === void 0) return void 0;
    const state = opened.isMember ? "member" : this.#creating.has(room) ? "creating" : "waiting";
    return { state, epoch: opened.epoch, devices: opened.members().length };
  }
  /** Every member device of `room`'s group with its safety number, this device first. */
  async safetyNumbers(room) {
    const e2e = await this.ready.catch(() => void 0);
    const opened = this.#rooms.get(room);
    if (e2e === void 0 || opened === void 0) return [];
    const entries = await Promise.all(opened.members().map(async (m) => ({
      user: m.user,
      device: m.device,
      number: await opened.safetyNumber(m.user, m.device) ?? "",
      own: m.user === e2e.device.user && m.device === e2e.device.id
    })));
    return entries.sort((a, b) => Number(b.own) - Number(a.own) || a.user.localeCompare(b.user) || a.device.localeCompare(b.device));
  }
  close() {
    void this.ready.then((e2e) => e2e.close(), () => void 0);
  }
  #room(room) {
    const opened = this.#rooms.get(room);
    if (opened === void 0) throw new Error(`${room} is not open yet`);
    return opened;
  }
  #message(m) {
    this.#seen.delete(`${m.room}#${m.seq}`);
    const shown = { room: m.room, seq: m.seq, id: m.id, from: m.from, body: m.text, sentAt: m.sentAt, device: m.device };
    if (m.clientMsgId !== void 0) shown.clientMsgId = m.clientMsgId;
    this.#show(shown);
  }
  #members(c) {
    this.#show({ ...this.#origin(c.room, c.seq), room: c.room, seq: c.seq, from: c.from, body: describe(c), note: "members" });
    this.#host.changed(c.room);
  }
  #error(error) {
    if (error instanceof E2eError && error.room !== void 0 && error.seq !== void 0 && (error.code === "undecryptable" || error.code === "sender_mismatch")) {
      const why = error.code === "undecryptable" ? "This message could not be decrypted on this device" : "This message was refused: it is signed by another user than its sender";
      this.#show({ ...this.#origin(error.room, error.seq), room: error.room, seq: error.seq, body: `${why} (${error.message})`, note: "undecryptable" });
      return;
    }
    this.#host.toast(`Encrypted rooms: ${error.message}`);
  }
  /** The id, time and sender of the raw message at `seq`, as the server stored it (`from` is empty when unknown). */
  #origin(room, seq) {
    const key = `${room}#${seq}`;
    const seen = this.#seen.get(key);
    this.#seen.delete(key);
    return seen ?? { id: `seq-${seq}`, sentAt: (/* @__PURE__ */ new Date()).toISOString(), from: "" };
  }
  #show(m) {
    this.#transcript.add(m);
    this.#host.shown(m);
  }
};
function describe(c) {
  const who = c.by?.user ?? c.from;
  const users = (list) => {
    const count = /* @__PURE__ */ new Map();
    for (const m of list) count.set(m.user, (count.get(m.user) ?? 0) + 1);
    return [...count].map(([user, n]) => n === 1 ? user : `${user} (${n} devices)`).join(", ");
  };
  const parts = [];
  if (c.epoch === 1) parts.push(c.added.length > 0 ? `made the encrypted group with ${users(c.added)}` : "made the encrypted group");
  else if (c.added.length > 0) parts.push(`added ${users(c.added)}`);
  if (c.removed.length > 0) parts.push(`removed ${users(c.removed)}`);
  if (parts.length === 0) parts.push(c.by !== void 0 ? "renewed their keys" : "changed the group");
  return `${who} ${parts.join(" and ")}`;
}

// src/stats.ts
var STATS_AFTER_MESSAGE_MS = 3e3;
var STATS_EVERY_MS = 6e4;
var RoomActivity = class {
  #client;
  /** The room on screen. */
  #current;
  #show;
  #every;
  #timer;
  #again = false;
  constructor(client, current, show) {
    this.#client = client;
    this.#current = current;
    this.#show = show;
    this.#every = setInterval(() => void this.refresh(), STATS_EVERY_MS);
  }
  /** The current room's activity over the last hour, for its panel (members only, like the room). */
  async refresh() {
    const model = this.#current();
    if (model === void 0 || !model.joined) return;
    try {
      const stats = await this.#client.stats(model.id, { minutes: 60 });
      if (this.#current()?.id === model.id) this.#show(stats);
    } catch (error) {
      if (!(error instanceof StarlingError && error.code === "closed")) console.warn(`stats of ${model.id}: ${errorText(error)}`);
    }
  }
  /** Refreshes STATS_AFTER_MESSAGE_MS after a message, and once more after that if more came meanwhile. */
  soon() {
    if (this.#timer !== void 0) {
      this.#again = true;
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = void 0;
      void this.refresh();
      if (this.#again) {
        this.#again = false;
        this.soon();
      }
    }, STATS_AFTER_MESSAGE_MS);
  }
  close() {
    clearInterval(this.#every);
    clearTimeout(this.#timer);
  }
};

// src/view.ts
var GROUP_MS = 5 * 6e4;
var View = class {
  #me;
  #events;
  #messages = byId("messages");
  #pending = byId("pending");
  #scroller = byId("scroller");
  #myStatus = "online";
  #connected = false;
  constructor(me, events) {
    this.#me = me;
    this.#events = events;
    byId("me-name").textContent = me;
  }
  /** The rooms and the DMs of the sidebar, with unread badges and the DM peers' dots. */
  lists(rooms, current, statuses) {
    const roomItems = [];
    const dmItems = [];
    for (const model of [...rooms].sort((a, b) => a.id.localeCompare(b.id))) {
      if (model.hidden) continue;
      const peer = dmPeer(model.id, this.#me);
      const mark = model.encrypted ? lock() : h("span", { class: "hash" }, "#");
      const label = peer === void 0 ? [mark, model.id] : [this.#dot(peer, statuses), peer];
      const badge = model.unread > 0 ? [h("span", { class: "badge", "data-unread": model.unread }, String(model.unread))] : [];
      const link = h("button", { type: "button", class: model.id === current ? "item active" : "item", "data-room": model.id }, ...label, ...badge);
      link.addEventListener("click", () => this.#events.select(model.id));
      (peer === void 0 ? roomItems : dmItems).push(h("li", {}, link));
    }
    const unread = [...rooms].reduce((n, m) => n + (m.hidden ? 0 : m.unread), 0);
    document.title = unread > 0 ? `(${unread}) Starling chat` : "Starling chat";
    byId("room-list").replaceChildren(...roomItems);
    byId("dm-list").replaceChildren(...dmItems);
  }
  /** The room's header, messages, pending sends and receipts, scrolled to the newest. */
  conversation(model, cursors) {
    this.header(model);
    if (model?.encrypted !== true) this.safety(void 0);
    const nodes = [];
    let previous;
    for (const m of model?.sorted() ?? []) {
      nodes.push(...this.#messageNodes(m, previous));
      previous = m;
    }
    this.#messages.replaceChildren(...nodes);
    this.#messages.dataset.room = model?.id ?? "";
    this.#messages.dataset.loaded = String(model?.loaded ?? false);
    this.pending(model);
    this.receipts(model, cursors);
    this.#scrollToEnd();
  }
  /** The room's name (with a lock for an encrypted room), what it is, and its buttons. */
  header(model) {
    const peer = model === void 0 ? void 0 : dmPeer(model.id, this.#me);
    const title = byId("room-title");
    if (model === void 0 || peer !== void 0) title.replaceChildren(peer ?? "No room");
    else title.replaceChildren(model.encrypted ? lock() : "# ", model.id);
    const sub = model === void 0 ? "Join a room to start" : peer !== void 0 ? "direct message" : model.encrypted ? this.#e2eLine(model) : "room";
    byId("room-sub").textContent = sub;
    byId("room-sub").title = sub;
    byId("add-member-form").hidden = model?.e2e?.state !== "member";
    byId("leave").hidden = model === void 0;
    byId("composer").hidden = model === void 0;
    byId("older").hidden = !(model?.hasOlder ?? false);
  }
  /** Adds `m` after the last message (the common case); anything else redraws the list. */
  append(model, m, cursors) {
    const sorted = model.sorted();
    const previous = sorted[sorted.length - 2];
    const last = [...this.#messages.querySelectorAll("li.msg")].pop() ?? null;
    if (sorted[sorted.length - 1] !== m || last !== null && Number(last.dataset.seq) !== previous?.seq) {
      this.conversation(model, cursors);
      return;
    }
    const atEnd = this.#atEnd();
    this.#messages.append(...this.#messageNodes(m, previous));
    this.receipts(model, cursors);
    if (atEnd || m.from === this.#me) this.#scrollToEnd();
  }
  /** Messages sent from here that the server has not delivered back yet. */
  pending(model) {
    const items = [...model?.pending.values() ?? []].map((p) => h(
      "li",
      { class: p.failed === void 0 ? "msg mine pending-msg" : "msg mine failed", "data-client-msg-id": p.clientMsgId },
      h("div", { class: "body" }, p.body),
      h("div", { class: "meta" }, p.failed ?? "sending…")
    ));
    this.#pending.replaceChildren(...items);
  }
  /** "Seen by" under the newest message each other reader's cursor has reached. */
  receipts(model, cursors) {
    for (const old of this.#messages.querySelectorAll(".receipt")) old.remove();
    if (model === void 0) return;
    const shown = [...this.#messages.querySelectorAll("li.msg")];
    const bySeq = /* @__PURE__ */ new Map();
    for (const [user, cursor] of cursors) {
      if (user === this.#me) continue;
      const at = shown.filter((el) => Number(el.dataset.seq) <= cursor).pop();
      if (at !== void 0) bySeq.set(at, [...bySeq.get(at) ?? [], user]);
    }
    for (const [el, users] of bySeq) {
      const who = dmPeer(model.id, this.#me) === void 0 ? `Seen by ${users.sort().join(", ")}` : "Seen";
      el.append(h("div", { class: "receipt", "data-seen-by": users.sort().join(" ") }, who));
    }
  }
  /** The room's members with their presence dots; clicking one opens a DM. */
  members(model, statuses) {
    const order = { online: 0, away: 1, offline: 2 };
    const users = [...model?.members ?? []].sort(
      (a, b) => order[statuses.get(a) ?? "offline"] - order[statuses.get(b) ?? "offline"] || a.localeCompare(b)
    );
    byId("member-list").replaceChildren(...users.map((user) => {
      const status = statuses.get(user) ?? "offline";
      const item = h(
        "button",
        { type: "button", class: "item", "data-user": user, "data-status": status, title: user === this.#me ? "you" : `${status}: message ${user}` },
        this.#dot(user, statuses),
        user,
        user === this.#me ? h("span", { class: "muted" }, " (you)") : ""
      );
      if (user !== this.#me) item.addEventListener("click", () => this.#events.openDm(user));
      return h("li", {}, item);
    }));
    this.#myStatus = statuses.get(this.#me) ?? "online";
    this.#showMyStatus();
  }
  /**
   * An encrypted room's member devices with their safety numbers, to compare with what each
   * member's own page shows for its device; hidden for other rooms.
   */
  safety(entries) {
    byId("room-safety").hidden = entries === void 0;
    const items = (entries ?? []).map((e) => {
      const device = e.own ? "this device" : `device ${e.device}`;
      return h(
        "li",
        { class: "safety-entry", "data-safety-user": e.user, "data-safety-device": e.device, "data-number": e.number, "data-own": e.own },
        h("div", { class: "who" }, h("strong", {}, e.user), " ", h("span", { class: "muted", title: `device ${e.device}` }, device)),
        h("code", { class: "number", "aria-label": `safety number of ${e.user}, ${device}` }, e.number)
      );
    });
    if (entries !== void 0 && items.length === 0) items.push(h("li", { class: "muted" }, "This device is not in the group yet."));
    byId("safety-list").replaceChildren(...items);
  }
  /** The room's activity over the last hour (the `stats` action): totals, and messages per minute as bars. */
  stats(stats) {
    const panel = byId("room-stats");
    panel.hidden = stats === void 0;
    if (stats === void 0) return;
    const { messages, senders, deliveries } = stats.totals;
    Object.assign(panel.dataset, { room: stats.room, messages: String(messages), senders: String(senders), deliveries: String(deliveries) });
    byId("stats-messages").textContent = messages.toLocaleString();
    byId("stats-senders").textContent = senders.toLocaleString();
    byId("stats-deliveries").textContent = deliveries.toLocaleString();
    const perMinute = new Map(stats.minutes.map((m) => [m.minute, m.messages]));
    const peak = Math.max(1, ...perMinute.values());
    const now = Date.now();
    const bars = Array.from({ length: 60 }, (_, i) => {
      const minute = new Date(now - (59 - i) * 6e4).toISOString().slice(0, 16) + "Z";
      const n = perMinute.get(minute) ?? 0;
      return h("span", { style: `height: ${Math.round(100 * n / peak)}%`, title: `${minute}: ${n} messages` });
    });
    byId("stats-bars").replaceChildren(...bars);
  }
  /** One's own dot: one's status while connected, offline while not. */
  #showMyStatus() {
    const dot = byId("me-dot");
    dot.dataset.status = this.#connected ? this.#myStatus : "offline";
    dot.title = this.#connected ? this.#myStatus : "not connected";
  }
  /** "bob is typing…" for the current room. */
  typing(users) {
    const el = byId("typing");
    el.dataset.users = users.join(" ");
    if (users.length === 0) el.replaceChildren();
    else {
      const who = users.length === 1 ? `${users[0]} is` : users.length === 2 ? `${users[0]} and ${users[1]} are` : "Several people are";
      el.replaceChildren(h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")), `${who} typing…`);
    }
  }
  /** The connection banner: hidden while connected. */
  state(state, waiting) {
    document.body.dataset.state = state;
    this.#connected = state === "connected";
    this.#showMyStatus();
    const banner = byId("banner");
    banner.dataset.state = state;
    const queued = waiting > 0 ? ` ${waiting} message${waiting === 1 ? "" : "s"} will be sent when it is back.` : "";
    const text = {
      connecting: "Connecting…",
      reconnecting: `Reconnecting… the connection dropped.${queued}`,
      connected: "",
      disconnected: "Disconnected."
    };
    banner.textContent = text[state];
    banner.hidden = state === "connected";
  }
  toast(text) {
    const toast = h("div", { class: "toast", role: "alert" }, text);
    byId("toasts").append(toast);
    setTimeout(() => toast.remove(), 6e3);
  }
  /** Keeps the reader's place while older messages are put above. */
  keepingPlace(redraw) {
    const fromEnd = this.#scroller.scrollHeight - this.#scroller.scrollTop;
    redraw();
    this.#scroller.scrollTop = this.#scroller.scrollHeight - fromEnd;
  }
  #messageNodes(m, previous) {
    const nodes = [];
    const newDay = previous === void 0 || dayKey(previous.sentAt) !== dayKey(m.sentAt);
    if (newDay) nodes.push(h("li", { class: "day", role: "separator" }, h("span", {}, dayLabel(m.sentAt))));
    const ids = { "data-seq": m.seq, "data-room": m.room, "data-from": m.from, "data-id": m.id, "data-note": m.note };
    if (m.note === "members") {
      nodes.push(h("li", { ...ids, class: "msg note" }, h("div", { class: "body" }, m.body, " ", h("time", { datetime: m.sentAt }, clock(m.sentAt)))));
      return nodes;
    }
    const grouped = !newDay && previous?.note === void 0 && previous?.from === m.from && Date.parse(m.sentAt) - Date.parse(previous.sentAt) < GROUP_MS;
    const mine = m.from === this.#me;
    const attrs = { ...ids, class: `msg${mine ? " mine" : ""}${grouped ? " grouped" : ""}` };
    const time = h("time", { datetime: m.sentAt, title: new Date(m.sentAt).toLocaleString() }, clock(m.sentAt));
    const from = m.from === "" ? "unknown sender" : m.from;
    const head = grouped ? [] : [
      h("div", { class: "avatar", style: `--hue:${hue(from)}`, "aria-hidden": "true" }, from.slice(0, 1).toUpperCase()),
      h("div", { class: "head" }, h("span", { class: "from", title: m.device === void 0 ? void 0 : `device ${m.device}` }, from), time)
    ];
    const body = m.note === "undecryptable" ? h("div", { class: "body undecryptable" }, lock("not readable"), m.body) : h("div", { class: "body" }, m.body);
    nodes.push(h("li", attrs, ...head, body, ...grouped ? [h("span", { class: "hover-time" }, clock(m.sentAt))] : []));
    return nodes;
  }
  /** What the header says of an encrypted room: how this device stands in its group. */
  #e2eLine(model) {
    const e2e = model.e2e;
    if (e2e === void 0) return "end-to-end encrypted · opening…";
    if (e2e.state === "creating") return "end-to-end encrypted · making the group…";
    if (e2e.state === "waiting") return `end-to-end encrypted · a member has to add ${this.#me} (this device published its keys)`;
    return `end-to-end encrypted · ${e2e.devices} device${e2e.devices === 1 ? "" : "s"} · epoch ${e2e.epoch ?? 0}`;
  }
  #dot(user, statuses) {
    const status = statuses.get(user) ?? "offline";
    return h("span", { class: "dot", "data-status": status, "data-user": user, title: status });
  }
  #atEnd() {
    const s = this.#scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 40;
  }
  #scrollToEnd() {
    this.#scroller.scrollTop = this.#scroller.scrollHeight;
  }
};
function lock(label = "end-to-end encrypted") {
  const title = label === "end-to-end encrypted" ? "End-to-end encrypted (MLS): the server stores and relays only ciphertext" : label;
  return h("span", { class: "lock", role: "img", "aria-label": label, title });
}

// src/chat.ts
var PAGE = 50;
var READ_EVERY_MS = 1200;
var PRESENCE_EVERY_MS = 3e4;
var MAX_DISCOVERED_DMS = 10;
var ChatApp = class {
  client;
  me;
  /** The `e2e:` rooms: this browser's MLS device and what it decrypts. */
  e2e;
  #rooms = /* @__PURE__ */ new Map();
  #statuses = /* @__PURE__ */ new Map();
  #cursors = new ReadCursors();
  #myReads = /* @__PURE__ */ new Map();
  #readTimers = /* @__PURE__ */ new Map();
  #typing = new TypingIndicator();
  #throttle;
  #saved;
  #view;
  #discovered = /* @__PURE__ */ new Set();
  #timers = [];
  #activity;
  #current;
  constructor(url, me, tokens) {
    this.me = me;
    this.#saved = new SavedRooms(me);
    this.client = connect(url, tokens, { store: new LocalStorageStore(this.#saved.seqPrefix) });
    this.#throttle = new TypingThrottle(this.client);
    this.#view = new View(me, { select: (room) => this.select(room), openDm: (user) => void this.openDm(user) });
    this.#activity = new RoomActivity(this.client, () => this.#current === void 0 ? void 0 : this.#rooms.get(this.#current), (stats) => this.#view.stats(stats));
    this.e2e = new EncryptedRooms(this.client, me, {
      shown: (m) => this.#onMessage(m),
      changed: (room) => void this.#showGroup(room),
      joined: (room) => void this.open(room, false),
      toast: (text) => this.#view.toast(text)
    });
    this.#statuses.set(me, "online");
    this.#listen();
    this.#view.state(this.client.state, 0);
    const saved = this.#saved.list();
    const rooms = saved.length > 0 ? saved : ["lobby"];
    const current = this.#saved.current;
    for (const room of rooms) void this.open(room, room === (current !== null && rooms.includes(current) ? current : rooms[0]));
    this.#timers.push(setInterval(() => this.#view.typing(this.#typingHere()), 1e3));
    this.#timers.push(setInterval(() => void this.#refreshPresence(this.#current), PRESENCE_EVERY_MS));
  }
  #listen() {
    const c = this.client;
    c.on("state", ({ state, previous }) => {
      this.#view.state(state, c.outboxSize);
      if (state === "connected" && previous === "reconnecting") void this.#refreshPresence(this.#current);
    });
    c.on("message", (m) => {
      if (!isEncrypted(m.room)) this.#onMessage(m);
    });
    c.on("presence", (p) => {
      this.#statuses.set(p.user, p.status);
      this.#redrawPeople();
    });
    c.on("typing", ({ room, user }) => {
      this.#typing.typing(room, user);
      this.#noteMember(room, user);
      if (room === this.#current) this.#view.typing(this.#typingHere());
    });
    c.on("read", ({ room, user, seq }) => {
      if (!this.#cursors.update(room, user, seq)) return;
      if (user === this.me) this.#myReads.set(room, Math.max(seq, this.#myReads.get(room) ?? 0));
      this.#noteMember(room, user);
      if (room === this.#current) this.#view.receipts(this.#rooms.get(room), this.#readersOf(room));
    });
    c.on("gap", ({ room, fromSeq, toSeq }) => this.#view.toast(`${room}: messages ${fromSeq}–${toSeq} are past retention`));
    c.on("error", (e) => this.#view.toast(e.message));
    document.addEventListener("visibilitychange", () => this.#scheduleRead(this.#current));
  }
  /** Opens `room` (joining it once) and shows it when `show`. */
  async open(room, show) {
    let model = this.#rooms.get(room);
    if (model === void 0) {
      model = new RoomModel(room);
      this.#rooms.set(room, model);
    }
    model.hidden = false;
    this.#saved.add(room);
    if (show) this.select(room);
    else this.#redrawLists();
    if (model.joined) return;
    try {
      await this.#join(model);
    } catch (error) {
      this.#view.toast(`Cannot open ${room}: ${errorText(error)}`);
      this.#forget(room);
    }
  }
  async #join(model) {
    model.joined = true;
    if (model.encrypted) {
      for (const m of await this.e2e.open(model.id)) model.add(m);
      void this.#showGroup(model.id);
    } else {
      await this.client.join(model.id);
      const page = await this.client.history(model.id, { limit: PAGE });
      for (const m of page.messages) model.add(m);
      model.hasOlder = page.hasMore;
    }
    model.loaded = true;
    if (model.id === this.#current) {
      this.#redrawConversation();
      void this.#activity.refresh();
    }
    if (dmPeer(model.id, this.me) === void 0) await this.#refreshPresence(model.id);
    else for (const user of model.id.split(":").slice(1)) model.members.add(user);
    this.#redrawPeople();
  }
  select(room) {
    const model = this.#rooms.get(room);
    if (model === void 0) return;
    this.#current = room;
    this.#saved.current = room;
    model.unread = 0;
    this.#redrawConversation();
    this.#redrawLists();
    this.#view.members(model, this.#statuses);
    void this.#showGroup(room);
    this.#view.typing(this.#typingHere());
    this.#scheduleRead(room);
    this.#view.stats(void 0);
    if (model.loaded) void this.#activity.refresh();
  }
  async openDm(user) {
    const dm = dmRoom(this.me, user);
    if ("error" in dm) this.#view.toast(dm.error);
    else await this.open(dm.room, true);
  }
  async leave() {
    const room = this.#current;
    if (room === void 0) return;
    this.#forget(room);
    const next = [...this.#rooms.values()].find((m) => !m.hidden);
    if (next === void 0) {
      this.#current = void 0;
      this.#redrawConversation();
    } else this.select(next.id);
    await this.client.leave(room).catch((e) => this.#view.toast(`Leaving ${room}: ${errorText(e)}`));
  }
  send(body) {
    const room = this.#current;
    const model = room === void 0 ? void 0 : this.#rooms.get(room);
    if (room === void 0 || model === void 0 || body.trim() === "") return;
    const clientMsgId = randomId();
    model.pending.set(clientMsgId, { clientMsgId, body, sentAt: Date.now() });
    this.#view.pending(model);
    this.#view.state(this.client.state, this.client.outboxSize + 1);
    const sent = model.encrypted ? this.e2e.send(room, body, clientMsgId) : this.client.send(room, body, { clientMsgId });
    sent.catch((error) => {
      const pending = model.pending.get(clientMsgId);
      if (pending === void 0) return;
      const rejected = error instanceof StarlingError && error.code === "rejected";
      pending.failed = rejected ? `Not sent: refused by moderation (${error.reason ?? "no reason given"})` : `Not sent: ${errorText(error)}`;
      if (room === this.#current) this.#view.pending(model);
    });
  }
  /** Adds `user`'s devices to the current encrypted room's group. */
  addMember(user) {
    const room = this.#current;
    if (room === void 0 || !isEncrypted(room) || user === "") return;
    this.e2e.add(room, user).catch((e) => this.#view.toast(`Could not add ${user}: ${errorText(e)}`));
  }
  keystroke() {
    if (this.#current !== void 0) this.#throttle.keystroke(this.#current);
  }
  async loadOlder() {
    const model = this.#current === void 0 ? void 0 : this.#rooms.get(this.#current);
    const before = model?.minSeq;
    if (model === void 0 || before === void 0) return;
    const page = await this.client.history(model.id, { before, limit: PAGE });
    for (const m of page.messages) model.add(m);
    model.hasOlder = page.hasMore;
    if (model.id === this.#current) this.#view.keepingPlace(() => this.#redrawConversation());
  }
  setStatus(status) {
    this.client.setStatus(status).catch((e) => {
      const wait = e instanceof StarlingError && e.retryAfterMs !== void 0 ? ` (try again in ${Math.ceil(e.retryAfterMs / 1e3)} s)` : "";
      this.#view.toast(`Status not changed: ${errorText(e)}${wait}`);
    });
  }
  close() {
    for (const t of this.#timers) clearInterval(t);
    this.#activity.close();
    for (const t of this.#readTimers.values()) clearTimeout(t);
    this.e2e.close();
    this.client.close();
  }
  #onMessage(m) {
    const model = this.#rooms.get(m.room);
    if (model === void 0 || !model.add(m)) return;
    if (m.from === this.me && m.clientMsgId !== void 0 && model.pending.delete(m.clientMsgId)) this.#view.pending(model);
    const said = m.note === void 0;
    if (said) {
      this.#typing.message(m.room, m.from);
      this.#noteMember(m.room, m.from);
    }
    if (model.hidden) {
      model.hidden = false;
      this.#saved.add(model.id);
    }
    if (m.room === this.#current) {
      this.#view.append(model, m, this.#readersOf(m.room));
      this.#view.typing(this.#typingHere());
      this.#scheduleRead(m.room);
      this.#activity.soon();
    } else if (said && m.from !== this.me) {
      model.unread += 1;
    }
    this.#redrawLists();
  }
  /** An encrypted room's group changed: its header and, on screen, its safety numbers. */
  async #showGroup(room) {
    const model = this.#rooms.get(room);
    if (model === void 0 || !model.encrypted) {
      if (room === this.#current) this.#view.safety(void 0);
      return;
    }
    model.e2e = this.e2e.status(room);
    const numbers = room === this.#current ? await this.e2e.safetyNumbers(room) : [];
    if (room !== this.#current) return;
    this.#view.header(model);
    this.#view.safety(numbers);
  }
  /** A user active in a room the page did not list as a member: ask for the members again. */
  #noteMember(room, user) {
    const model = this.#rooms.get(room);
    if (model === void 0 || model.members.has(user)) return;
    model.members.add(user);
    if (dmPeer(room, this.me) === void 0) void this.#refreshPresence(room);
    else if (room === this.#current) this.#view.members(model, this.#statuses);
  }
  async #refreshPresence(room) {
    const model = room === void 0 ? void 0 : this.#rooms.get(room);
    if (model === void 0 || !model.joined || dmPeer(model.id, this.me) !== void 0) return;
    try {
      let cursor;
      const members = /* @__PURE__ */ new Set();
      do {
        const page = await this.client.presence(model.id, cursor === void 0 ? {} : { cursor });
        for (const m of page.members) {
          members.add(m.user);
          this.#statuses.set(m.user, m.status);
        }
        cursor = page.hasMore ? page.cursor : void 0;
      } while (cursor !== void 0 && members.size < 2e3);
      model.members.clear();
      for (const user of members) model.members.add(user);
    } catch (error) {
      if (!(error instanceof StarlingError && error.code === "closed")) this.#view.toast(`Members of ${model.id}: ${errorText(error)}`);
      return;
    }
    this.#redrawPeople();
    void this.#discoverDms(model);
  }
  /**
   * There is no per-user channel, so a DM reaches a user only in a DM room they joined. Joining
   * the DM rooms with the members of one's rooms (quietly, shown once they hold a message) lets
   * a DM sent to this user appear.
   */
  async #discoverDms(model) {
    for (const user of model.members) {
      if (this.#discovered.size >= MAX_DISCOVERED_DMS) return;
      const dm = dmRoom(this.me, user);
      if ("error" in dm || this.#rooms.has(dm.room) || this.#discovered.has(dm.room)) continue;
      this.#discovered.add(dm.room);
      const quiet = new RoomModel(dm.room);
      quiet.hidden = true;
      this.#rooms.set(dm.room, quiet);
      const joined = await this.client.join(dm.room).catch(() => void 0);
      if (joined === void 0) {
        this.#rooms.delete(dm.room);
        this.#discovered.delete(dm.room);
        continue;
      }
      quiet.joined = true;
      quiet.members.add(this.me).add(user);
      if (joined.lastSeq === 0) continue;
      const page = await this.client.history(dm.room, { limit: PAGE }).catch(() => void 0);
      for (const m of page?.messages ?? []) quiet.add(m);
      quiet.unread += unreadFromPeer(quiet.sorted(), this.me);
      quiet.hasOlder = page?.hasMore ?? false;
      quiet.loaded = page !== void 0;
      quiet.hidden = false;
      this.#saved.add(dm.room);
      this.#redrawLists();
    }
  }
  /** Marks the current room read up to its newest message, at most once per READ_EVERY_MS. */
  #scheduleRead(room) {
    if (room === void 0 || room !== this.#current || document.visibilityState !== "visible" || this.#readTimers.has(room)) return;
    this.#readTimers.set(room, setTimeout(() => {
      this.#readTimers.delete(room);
      const newest = this.#rooms.get(room)?.maxSeq ?? 0;
      if (room !== this.#current || newest <= (this.#myReads.get(room) ?? 0)) return;
      this.#myReads.set(room, newest);
      this.client.markRead(room, newest).catch((e) => this.#view.toast(`Read receipt: ${errorText(e)}`));
    }, READ_EVERY_MS));
  }
  #forget(room) {
    this.#rooms.delete(room);
    this.#saved.remove(room);
    this.#redrawLists();
  }
  #readersOf(room) {
    const model = this.#rooms.get(room);
    const readers = [...model?.members ?? []].map((u) => [u, this.#cursors.cursor(room, u)]);
    return new Map(readers.filter(([, seq]) => seq > 0));
  }
  #typingHere() {
    return this.#current === void 0 ? [] : this.#typing.typingIn(this.#current).filter((u) => u !== this.me);
  }
  #redrawLists() {
    this.#view.lists([...this.#rooms.values()], this.#current, this.#statuses);
  }
  #redrawConversation() {
    const model = this.#current === void 0 ? void 0 : this.#rooms.get(this.#current);
    this.#view.conversation(model, this.#readersOf(this.#current ?? ""));
  }
  #redrawPeople() {
    this.#redrawLists();
    this.#view.members(this.#current === void 0 ? void 0 : this.#rooms.get(this.#current), this.#statuses);
  }
};
function unreadFromPeer(sorted, me) {
  let unread = 0;
  for (const m of sorted) unread = m.from === me ? 0 : unread + 1;
  return unread;
}

// src/signin.ts
var ENDPOINT = "/_devstack/token";
var REFRESH_MARGIN_MS = 6e4;
var SESSION_KEY = "starling-web:session";
function loadSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? "null");
    if (typeof s !== "object" || s === null) return void 0;
    const r = s;
    if (r.mode === "dev" && typeof r.user === "string") return { mode: "dev", user: r.user };
    if (r.mode === "pasted" && typeof r.url === "string" && typeof r.token === "string") {
      return { mode: "pasted", url: r.url, token: r.token };
    }
  } catch {
  }
  return void 0;
}
function saveSession(session) {
  if (session === void 0) sessionStorage.removeItem(SESSION_KEY);
  else sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}
var NoDevTokens = class extends Error {
  constructor() {
    super("This server hands out no dev tokens: it runs with its own JWT secret, so tokens must come from your own auth service.");
  }
};
async function serverInfo() {
  const response = await fetch("/_devstack/info", { cache: "no-store" }).catch(() => void 0);
  if (response === void 0 || !response.ok) return void 0;
  const info = await response.json().catch(() => ({}));
  return typeof info.url === "string" && typeof info.devTokens === "boolean" ? { url: info.url, devTokens: info.devTokens } : void 0;
}
async function fetchDevToken(user) {
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user }),
      cache: "no-store"
    });
  } catch {
    throw new Error("The devstack does not answer. Is `cargo run -p starling-devstack` still running?");
  }
  if (response.status === 404) throw new NoDevTokens();
  const answer = await response.json().catch(() => ({}));
  if (response.ok && typeof answer.token === "string" && typeof answer.url === "string") return answer;
  if (response.status === 403) throw new Error("The dev token endpoint answers this machine only (loopback); open the page on 127.0.0.1.");
  throw new Error(answer.error ?? answer.message ?? `The token endpoint answered HTTP ${response.status}`);
}
function devTokenProvider(first) {
  let current = first;
  return async ({ forceRefresh }) => {
    if (forceRefresh || Date.parse(current.expiresAt) - Date.now() < REFRESH_MARGIN_MS) {
      current = await fetchDevToken(current.user);
    }
    return current.token;
  };
}

// src/main.ts
var chat;
var suggestedUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/local`;
function showSignIn(noDevTokens, why) {
  document.body.dataset.state = "signed-out";
  byId("chat").hidden = true;
  byId("signin").hidden = false;
  byId("signin-form").hidden = noDevTokens;
  byId("token-form").hidden = !noDevTokens;
  if (noDevTokens) {
    byId("token-why").textContent = why ?? new NoDevTokens().message;
    const url = byId("token-url");
    if (url.value === "") url.value = suggestedUrl;
  } else byId("signin-user").focus();
}
function start(url, user, tokens) {
  byId("signin").hidden = true;
  byId("chat").hidden = false;
  chat = new ChatApp(url, user, tokens);
  window.starling = chat;
  byId("composer-input").focus();
}
async function resume(session) {
  if (session.mode === "pasted") {
    const user = readClaims(session.token).sub ?? "unknown";
    start(session.url, user, () => session.token);
    return;
  }
  try {
    const token = await fetchDevToken(session.user);
    start(token.url, token.user, devTokenProvider(token));
  } catch (error) {
    saveSession(void 0);
    showSignIn(error instanceof NoDevTokens);
    showError("signin-error", error);
  }
}
function showError(id, error) {
  const el = byId(id);
  el.textContent = error instanceof Error ? error.message : String(error);
  el.hidden = false;
}
function wireSignIn() {
  byId("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const user = byId("signin-user").value.trim();
    byId("signin-error").hidden = true;
    fetchDevToken(user).then(
      (token) => {
        saveSession({ mode: "dev", user: token.user });
        start(token.url, token.user, devTokenProvider(token));
      },
      (error) => error instanceof NoDevTokens ? showSignIn(true) : showError("signin-error", error)
    );
  });
  byId("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const url = byId("token-url").value.trim();
    const token = byId("token-value").value.trim();
    const user = readClaims(token).sub;
    if (user === void 0) return showError("token-error", new Error("That is not a JWT with a sub claim."));
    if (!/^wss?:\/\//.test(url)) return showError("token-error", new Error("The URL starts with ws:// or wss://."));
    saveSession({ mode: "pasted", url, token });
    start(url, user, () => token);
  });
}
function wireChat() {
  const input = byId("composer-input");
  const submit = () => {
    chat?.send(input.value);
    input.value = "";
    input.style.height = "";
  };
  byId("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  input.addEventListener("input", () => {
    chat?.keystroke();
    input.style.height = "";
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  });
  const join = byId("join-room");
  byId("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const room = join.value.trim();
    if (room !== "") void chat?.open(room, true);
    join.value = "";
  });
  const dm = byId("dm-user");
  byId("dm-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const user = dm.value.trim();
    if (user !== "") void chat?.openDm(user);
    dm.value = "";
  });
  const member = byId("add-member");
  byId("add-member-form").addEventListener("submit", (event) => {
    event.preventDefault();
    chat?.addMember(member.value.trim());
    member.value = "";
  });
  byId("older").addEventListener("click", () => void chat?.loadOlder());
  byId("leave").addEventListener("click", () => void chat?.leave());
  byId("me-status").addEventListener("change", (event) => {
    chat?.setStatus(event.target.value === "away" ? "away" : "online");
  });
  byId("signout").addEventListener("click", () => {
    chat?.close();
    chat = void 0;
    delete window.starling;
    saveSession(void 0);
    location.reload();
  });
}
async function boot() {
  wireSignIn();
  wireChat();
  const session = loadSession();
  if (session !== void 0) return resume(session);
  const info = await serverInfo();
  if (info !== void 0) suggestedUrl = info.url;
  showSignIn(info?.devTokens === false);
}
void boot();
