// Microphone capture: getUserMedia with the browser's voice processing off (an emotion model wants the voice
// as it is), and an AudioWorklet that hands over 100 ms LINEAR16 chunks, at 16 kHz where the browser allows.
export class Microphone {
  static async open(onChunk) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new MicrophoneError("The microphone needs a secure page: open it over https:// or on localhost.");
    }
    let media;
    try {
      media = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
      });
    } catch (err) {
      const why = {
        NotAllowedError: "Microphone access was refused. Allow it in the site settings, then press Start again.",
        NotFoundError: "No microphone was found. Connect one, then press Start again.",
        NotReadableError: "The microphone is busy in another application.",
      }[err.name] || `The microphone could not be opened (${err.name}).`;
      throw new MicrophoneError(why);
    }
    try {
      return await Microphone.#connect(media, new AudioContext({ sampleRate: 16000 }), onChunk);
    } catch {
      // Some browsers cannot resample a microphone into a 16 kHz context: capture at the device rate instead,
      // and the server resamples (the config says which rate).
      return Microphone.#connect(media, new AudioContext(), onChunk);
    }
  }

  static async #connect(media, context, onChunk) {
    await context.audioWorklet.addModule("/static/capture-worklet.js");
    const source = context.createMediaStreamSource(media);
    const node = new AudioWorkletNode(context, "pcm-capture", {
      processorOptions: { chunkSamples: Math.round(context.sampleRate / 10) },
    });
    node.port.onmessage = (event) => onChunk(event.data);
    const mute = context.createGain(); // keeps the worklet in the rendered graph without playing the voice back
    mute.gain.value = 0;
    source.connect(node).connect(mute).connect(context.destination);
    return new Microphone(media, context, node);
  }

  constructor(media, context, node) {
    this.media = media;
    this.context = context;
    this.node = node;
    this.sampleRate = context.sampleRate;
  }

  async close() {
    this.node.port.onmessage = null;
    this.media.getTracks().forEach((track) => track.stop());
    await this.context.close();
  }
}

export class MicrophoneError extends Error {}
